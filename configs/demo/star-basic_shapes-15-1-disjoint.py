_base_ = ['./star-basic_shapes-15-1-overlap.py']
incremental = dict(setting='disjoint')
