# PLOP (CVPR 2021; arthurdouillard/CVPR2021_PLOP) with DeepLabV3-R101 on
# ADE20K: as plop_deeplabv3-r101_1xb24_voc-512x512.py (entropy pseudo-labels
# with per-class median thresholds, adaptive factor, Local POD over the
# backbone stages, decode-head features and logits, background-based
# initialisation), with the POD weights of scripts/ade/plop_ade_*.sh: 0.001 on
# the features and 1e-5 on the logits; schedules/ade_plop.py. The base of the
# protocol leaves plop_deeplabv3-r101_1xb24_ade-<task>-overlap-512x512.py.
_base_ = [
    '../_base_/models/deeplabv3_r101-d16.py',
    '../_base_/datasets/ade20k.py',
    '../_base_/schedules/ade_plop.py',
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
        loss_weight=0.001,
        logits_weight=1e-5))
custom_hooks = [
    dict(type='PseudoLabelThresholdHook', num_bins=100, min_threshold=0.001)
]
incremental = dict(dataset='ade', method='plop')
