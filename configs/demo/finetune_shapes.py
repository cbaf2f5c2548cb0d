# Fine-tuning on the synthetic "shapes" data (the CPU demo): plain
# cross-entropy on each step's labels (old classes are background), no old
# model. The lower bound of every protocol. The protocol leaves
# (finetune_shapes-<task>-<setting>.py) inherit this file.
_base_ = [
    '../_base_/models/deeplabv3_r18-tiny.py',
    '../_base_/datasets/shapes_voc.py',
    '../_base_/schedules/shapes_demo.py',
    '../_base_/default_runtime.py',
]
incremental = dict(dataset='voc', method='finetune')
