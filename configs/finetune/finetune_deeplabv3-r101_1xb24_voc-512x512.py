# Fine-tuning with DeepLabV3-R101 on Pascal VOC 2012 (+SBD): plain
# cross-entropy on each step's labels (old classes are background), no old
# model: the lower bound of every protocol. With task='offline': joint training
# on all classes, the upper bound. The base of the protocol leaves
# finetune_deeplabv3-r101_1xb24_voc-<task>-<setting>-512x512.py.
_base_ = [
    '../_base_/models/deeplabv3_r101-d16.py',
    '../_base_/datasets/voc_aug.py',
    '../_base_/schedules/voc_mib.py',
    '../_base_/default_runtime.py',
]
incremental = dict(dataset='voc', method='finetune')
