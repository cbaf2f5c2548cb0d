# Cityscapes (gtFine) for class-incremental protocols: the 19 train ids of
# *_gtFine_labelTrainIds.png (tools/dataset_converters/cityscapes.py makes
# them from *_gtFine_labelIds.png), 255 = void. Cityscapes has no background
# class: cisseg adds a virtual one (train id 0) that receives the pixels of
# classes not seen yet (incremental.unseen='background', the default) or
# ignores them (incremental.unseen='ignore'); see data/README.md.
# mmseg's CityscapesDataset and mmseg's cityscapes pipelines (512x1024 crops).
dataset_type = 'CityscapesDataset'
data_root = 'data/cityscapes'
crop_size = (512, 1024)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResize',
        scale=(2048, 1024),
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
    dict(type='Resize', scale=(2048, 1024), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
# Batch 8 in all (mmseg's Cityscapes recipes: 4 GPUs x 2): per GPU, so
# divide it by the number of GPUs (train_dataloader.batch_size=2 on 4 GPUs).
train_dataloader = dict(
    batch_size=8,
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
                img_path='leftImg8bit/train', seg_map_path='gtFine/train'),
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
                img_path='leftImg8bit/val', seg_map_path='gtFine/val'),
            pipeline=test_pipeline)))
test_evaluator = dict(type='IncrementalIoUMetric')
