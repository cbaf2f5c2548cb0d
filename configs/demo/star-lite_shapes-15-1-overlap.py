_base_ = [
    '../_base_/models/deeplabv3_r18-tiny.py',
    '../_base_/datasets/shapes_voc.py',
    '../_base_/schedules/shapes_demo.py', '../_base_/default_runtime.py',
    '../_base_/methods/star_lite.py'
]
# STAR's base learning rate at t > 0 is 1/100 of the demo's step 0 (the
# authors: 1/10 of a step 0 that already has x10 on the head).
incremental = dict(
    dataset='voc',
    task='15-1',
    setting='overlap',
    step_overrides=dict(
        inc=dict(optim_wrapper=dict(optimizer=dict(lr=0.0005)))))
