# Fine-tuning with DeepLabV3-R101 on ADE20K: plain cross-entropy
# on each step's labels (old classes are background), no old model: the
# lower bound of every protocol. With task='offline': joint training on all
# classes, the upper bound. The base of the protocol leaves
# finetune_deeplabv3-r101_1xb24_ade-<task>-overlap-512x512.py.
_base_ = [
    '../_base_/models/deeplabv3_r101-d16.py',
    '../_base_/datasets/ade20k.py',
    '../_base_/schedules/ade_mib.py',
    '../_base_/default_runtime.py',
]
incremental = dict(dataset='ade', method='finetune')
