_base_ = ['./star-lite_shapes-15-1-overlap.py']
incremental = dict(setting='disjoint')
