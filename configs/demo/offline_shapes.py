# Joint training on all 21 classes in one step: the upper bound.
_base_ = ['./finetune_shapes-15-1-overlap.py']
incremental = dict(task='offline', method='offline')
