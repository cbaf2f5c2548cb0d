# CPU demo schedule. Step 0 learns the base classes from scratch; later steps
# are short and use a 10x smaller learning rate, as CISS papers do.
# param_scheduler has no `end`: the step scheduler sets it to each step's
# length.
optim_wrapper = dict(
    type='OptimWrapper',
    # one parameter group per distinct setting (faster SGD steps; the
    # same updates as mmengine's default constructor)
    constructor='GroupedOptimWrapperConstructor',
    optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4),
    clip_grad=None)
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-5, power=0.9, begin=0, by_epoch=False)
]
train_cfg = dict(type='IterBasedTrainLoop', max_iters=1500)
test_cfg = dict(type='TestLoop')
incremental = dict(
    step_overrides=dict(
        inc=dict(
            train_cfg=dict(max_iters=200),
            optim_wrapper=dict(optimizer=dict(lr=0.005)))))
