# STAR's (and DKD's) ADE20K schedule, per step (jinpeng0528/STAR
# configs/config_ade.json and scripts/ade/*): SGD, momentum 0.9, Nesterov,
# weight decay 1e-4, 100 epochs per step, batch 24 (datasets/ade20k.py).
# Learning rate 2.5e-3 at step 0 and 2.5e-4 at later steps, x10 on the decode
# head (ASPP and classifiers) at every step; at t > 0 the STAR method file adds
# x100 on the new classifier. Warm-up then poly, as the authors' WarmupPolyLR:
# the poly factor (power 0.9, to 0 at the end of the step) times a linear
# warm-up from 0.001 to 1 over the first 20% of the step (20 of 100 epochs;
# change `end` with max_epochs). The authors train with AMP: add --amp on GPUs.
# STAR's BCE pos_weight for ADE20K (30) is a loss setting: it is in
# configs/star/star-basic_deeplabv3-r101_1xb24_ade-512x512.py.
optim_wrapper = dict(
    type='OptimWrapper',
    # one parameter group per distinct setting (faster SGD steps; the
    # same updates as mmengine's default constructor)
    constructor='GroupedOptimWrapperConstructor',
    optimizer=dict(
        type='SGD', lr=2.5e-3, momentum=0.9, nesterov=True,
        weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=10.0)}),
    clip_grad=None)
param_scheduler = [
    dict(
        type='LinearLR',
        start_factor=1e-3,
        end_factor=1.0,
        begin=0,
        end=20,
        by_epoch=True,
        convert_to_iter_based=True),
    # no `end`: the step scheduler sets it to the step's max_epochs
    dict(
        type='PolyLR',
        power=0.9,
        eta_min=0.0,
        begin=0,
        by_epoch=True,
        convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=100)
test_cfg = dict(type='TestLoop')
incremental = dict(
    step_overrides=dict(
        inc=dict(optim_wrapper=dict(optimizer=dict(lr=2.5e-4)))))
