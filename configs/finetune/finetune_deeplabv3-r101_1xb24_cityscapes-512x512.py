# Fine-tuning with DeepLabV3-R101 on Cityscapes: plain cross-entropy
# on each step's labels (old classes are background), no old model: the
# lower bound of every protocol. With task='offline': joint training on all
# classes, the upper bound. The base of the protocol leaves
# finetune_deeplabv3-r101_1xb24_cityscapes-<task>-overlap-512x512.py.
_base_ = [
    '../_base_/models/deeplabv3_r101-d16.py',
    '../_base_/datasets/cityscapes.py',
    '../_base_/schedules/cityscapes.py',
    '../_base_/default_runtime.py',
]
incremental = dict(dataset='cityscapes', method='finetune')
