_base_ = [
    '../_base_/models/deeplabv3_r18-tiny.py',
    '../_base_/datasets/shapes_voc.py',
    '../_base_/schedules/shapes_demo_star.py', '../_base_/default_runtime.py',
    '../_base_/methods/star_basic.py'
]
incremental = dict(dataset='voc', task='15-1', setting='overlap')
