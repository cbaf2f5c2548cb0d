_base_ = ['./mib_shapes-15-1-overlap.py']
incremental = dict(setting='disjoint')
