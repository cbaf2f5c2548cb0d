# Cityscapes schedule for the fine-tuning and MiB configs, per step (STAR's
# is cityscapes_star.py). MiB gives none for Cityscapes, so this is cisseg's
# choice: mmseg's DeepLabV3 Cityscapes optimiser (SGD, learning rate 1e-2,
# momentum 0.9, weight decay 5e-4, poly power 0.9 down to 1e-4), 108 epochs
# per step (mmseg's 40k iterations of batch 8 over 2975 images), with a 10x
# smaller learning rate (1e-3) at t > 0 as the CISS papers do. Batch and
# crops are the dataset file's (datasets/cityscapes.py: 24, 512x512).
optim_wrapper = dict(
    type='OptimWrapper',
    # one parameter group per distinct setting (faster SGD steps; the
    # same updates as mmengine's default constructor)
    constructor='GroupedOptimWrapperConstructor',
    optimizer=dict(type='SGD', lr=1e-2, momentum=0.9, weight_decay=5e-4),
    clip_grad=None)
# no `end`: the step scheduler sets it to the step's max_epochs
param_scheduler = [
    dict(
        type='PolyLR',
        power=0.9,
        eta_min=1e-4,
        begin=0,
        by_epoch=True,
        convert_to_iter_based=True)
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=108)
test_cfg = dict(type='TestLoop')
incremental = dict(
    step_overrides=dict(
        inc=dict(optim_wrapper=dict(optimizer=dict(lr=1e-3)))))
