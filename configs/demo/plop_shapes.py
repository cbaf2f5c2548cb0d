# PLOP on the synthetic "shapes" data (the CPU demo), with the demo's schedule
# (schedules/shapes_demo.py, as MiB's demo: PLOP trains with MiB's schedule):
# the losses and weights of
# configs/plop/plop_deeplabv3-r101_1xb24_voc-512x512.py (entropy pseudo-labels
# with per-class median thresholds, adaptive factor, Local POD with weight 0.01
# over the four backbone stages and the head's features and 0.0005 over its
# logits, background-based initialisation). The protocol leaves
# (plop_shapes-<task>-<setting>.py) inherit it.
_base_ = [
    '../_base_/models/deeplabv3_r18-tiny.py',
    '../_base_/datasets/shapes_voc.py',
    '../_base_/schedules/shapes_demo.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='PLOPSegmentor',
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
