# MiB on the synthetic "shapes" data (the CPU demo): unbiased cross-entropy
# + unbiased knowledge distillation (weight 10) from the frozen previous
# model; a new classifier starts from background's. The protocol leaves
# (mib_shapes-<task>-<setting>.py) inherit this file.
_base_ = [
    '../_base_/models/deeplabv3_r18-tiny.py',
    '../_base_/datasets/shapes_voc.py',
    '../_base_/schedules/shapes_demo.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='MiBSegmentor',
    init_new_classifier='background',
    unce_loss=dict(type='UnbiasedCrossEntropyLoss', loss_weight=1.0),
    unkd_loss=dict(type='UnbiasedKDLoss', alpha=1.0, loss_weight=10.0))
incremental = dict(dataset='voc', method='mib')
