# ADE20K (SceneParsing, ADEChallengeData2016) for class-incremental
# protocols: 151 classes, label 0 ("other objects") kept as the background
# class, i.e. mmseg's reduce_zero_label=False (ADE20KCISSDataset names the
# 151 classes). 20,210 training and 2,000 val images, mmseg's folders and
# mmseg's ade20k pipelines; 512x512 crops as MiB, DKD and STAR use.
dataset_type = 'ADE20KCISSDataset'
data_root = 'data/ade/ADEChallengeData2016'
crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),  # reduce_zero_label from the dataset
    dict(
        type='RandomResize',
        scale=(2048, 512),
        ratio_range=(0.5, 2.0),
        keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='Pad', size=crop_size),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
# Batch 24 in all (MiB: 2x12, STAR: 2x12): per GPU, so divide it by the
# number of GPUs (train_dataloader.batch_size=12 on 2 GPUs).
train_dataloader = dict(
    batch_size=24,
    num_workers=4,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(
        type='IncrementalSegDataset',
        split='train',
        protocol=None,  # set per step by the step scheduler
        step=0,
        dataset=dict(
            type=dataset_type,
            data_root=data_root,
            data_prefix=dict(
                img_path='images/training',
                seg_map_path='annotations/training'),
            pipeline=train_pipeline)))
test_dataloader = dict(
    batch_size=1,
    num_workers=4,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='IncrementalSegDataset',
        split='test',
        protocol=None,
        step=0,
        dataset=dict(
            type=dataset_type,
            data_root=data_root,
            data_prefix=dict(
                img_path='images/validation',
                seg_map_path='annotations/validation'),
            pipeline=test_pipeline)))
test_evaluator = dict(type='IncrementalIoUMetric')
