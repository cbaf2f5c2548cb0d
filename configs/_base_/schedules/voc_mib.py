# MiB's Pascal VOC schedule, per step (fcdl94/MiB README and run.py; the
# fine-tuning baseline of MiB's tables uses it too): SGD, momentum 0.9,
# Nesterov, weight decay 1e-4, one learning rate for the whole network,
# poly (power 0.9, to 0 at the end of the step), 30 epochs per step, batch
# 24 (datasets/voc_aug.py). Learning rate 1e-2 at step 0, 1e-3 later.
optim_wrapper = dict(
    type='OptimWrapper',
    # one parameter group per distinct setting (faster SGD steps; the
    # same updates as mmengine's default constructor)
    constructor='GroupedOptimWrapperConstructor',
    optimizer=dict(
        type='SGD', lr=1e-2, momentum=0.9, nesterov=True, weight_decay=1e-4),
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
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=30)
test_cfg = dict(type='TestLoop')
incremental = dict(
    step_overrides=dict(
        inc=dict(optim_wrapper=dict(optimizer=dict(lr=1e-3)))))
