# STAR's (and DKD's) Pascal VOC schedule, per step (jinpeng0528/STAR
# configs/config_voc.json and scripts/voc/*): SGD, momentum 0.9, Nesterov,
# weight decay 1e-4, poly learning rate (power 0.9, to 0 at the end of the
# step), 60 epochs per step, batch 24 (datasets/voc_aug.py). Learning rate
# 1e-3 at step 0 and 1e-4 at later steps, x10 on the decode head (ASPP and
# classifiers) at every step; at t > 0 the STAR method file adds x100 on
# the new classifier. The authors train with AMP: add --amp on GPUs.
# Epochs, not iterations: a step's training set depends on the protocol, and
# the papers count epochs (iterations per epoch = images // batch).
optim_wrapper = dict(
    type='OptimWrapper',
    # one parameter group per distinct setting (faster SGD steps; the
    # same updates as mmengine's default constructor)
    constructor='GroupedOptimWrapperConstructor',
    optimizer=dict(
        type='SGD', lr=1e-3, momentum=0.9, nesterov=True, weight_decay=1e-4),
    paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=10.0)}),
    clip_grad=None)
# no `end`: the step scheduler sets it to the step's max_epochs
param_scheduler = [
    dict(
        type='PolyLR',
        power=0.9,
        eta_min=0.0,
        begin=0,
        by_epoch=True,
        convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=60)
test_cfg = dict(type='TestLoop')
incremental = dict(
    step_overrides=dict(
        inc=dict(optim_wrapper=dict(optimizer=dict(lr=1e-4)))))
