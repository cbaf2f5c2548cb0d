# MiB with DeepLabV3-R101 on Pascal VOC 2012 (+SBD): unbiased cross-entropy +
# unbiased knowledge distillation (weight 10) from the frozen previous model; a
# new classifier starts from background's (fcdl94/MiB). The base of the
# protocol leaves mib_deeplabv3-r101_1xb24_voc-<task>-<setting>-512x512.py.
_base_ = [
    '../_base_/models/deeplabv3_r101-d16.py',
    '../_base_/datasets/voc_aug.py',
    '../_base_/schedules/voc_mib.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='MiBSegmentor',
    init_new_classifier='background',
    unce_loss=dict(type='UnbiasedCrossEntropyLoss', loss_weight=1.0),
    unkd_loss=dict(type='UnbiasedKDLoss', alpha=1.0, loss_weight=10.0))
incremental = dict(dataset='voc', method='mib')
