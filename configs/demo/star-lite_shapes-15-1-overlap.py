_base_ = [
    '../_base_/models/deeplabv3_r18-tiny.py',
    '../_base_/datasets/shapes_voc.py',
    '../_base_/schedules/shapes_demo.py', '../_base_/default_runtime.py',
    '../_base_/methods/star_lite.py'
]
# STAR's base learning rate at t > 0 is 1/25 of the demo's step 0 (x10 on
# the head, x100 on the new classifier). Chosen over 5e-4, 1e-3 and 5e-3 on
# seeds 1-3 of the 15-1 overlapped demo (docs/results.md).
incremental = dict(
    dataset='voc',
    task='15-1',
    setting='overlap',
    step_overrides=dict(
        inc=dict(optim_wrapper=dict(optimizer=dict(lr=0.002)))))
