# PLOP (CVPR 2021; arthurdouillard/CVPR2021_PLOP, argparser.py --method PLOP)
# with DeepLabV3-R101 on Pascal VOC 2012 (+SBD), on the softmax formulation.
# Step 0 is plain cross-entropy. At t > 0: pixels labelled background take
# the frozen old model's class where its normalised entropy is below that
# class's threshold (the median over the step's background pixels, at least
# 0.001: PseudoLabelThresholdHook), the others are ignored, and each image's
# cross-entropy is scaled by its share of pseudo-labelled background pixels;
# Local POD (scales 1, 2, 4) between the current and the old model's four
# backbone stages and decode-head features (weight 0.01) and logits (weight
# 0.0005, new classes summed into background), times sqrt(classes seen /
# new classes); the new classifier starts from background's (MiB's). No
# frozen layers, one learning rate (schedules/voc_plop.py). The base of the
# protocol leaves plop_deeplabv3-r101_1xb24_voc-<task>-<setting>-512x512.py.
_base_ = [
    '../_base_/models/deeplabv3_r101-d16.py',
    '../_base_/datasets/voc_aug.py',
    '../_base_/schedules/voc_plop.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='PLOPSegmentor',
    # POD reads every backbone stage; the head takes the last one
    backbone=dict(out_indices=(0, 1, 2, 3)),
    decode_head=dict(in_index=3),
    init_new_classifier='background',
    pseudo_label=True,
    adaptive_factor=True,
    pod_loss=dict(
        type='LocalPODLoss',
        scales=(1, 2, 4),
        loss_weight=0.01,
        logits_weight=0.0005))
custom_hooks = [
    dict(type='PseudoLabelThresholdHook', num_bins=100, min_threshold=0.001)
]
incremental = dict(dataset='voc', method='plop')
