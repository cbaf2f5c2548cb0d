# Cityscapes schedule, per step. No paper in STAR_SPEC.md / PROTOCOLS.md
# gives one for class-incremental Cityscapes, so this is cisseg's choice:
# mmseg's DeepLabV3 Cityscapes recipe (SGD, learning rate 1e-2, momentum 0.9,
# weight decay 5e-4, poly power 0.9 down to 1e-4, batch 8, 512x1024 crops:
# datasets/cityscapes.py), its 40k iterations counted as epochs
# (40000 x 8 / 2975 images ~ 108 epochs) and used for every step, with a 10x
# smaller learning rate (1e-3) at t > 0 as the CISS papers do.
optim_wrapper = dict(
    type='OptimWrapper',
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
