# The synthetic "shapes" dataset, in Pascal VOC 2012's layout, read by mmseg's
# PascalVOCDataset. Generated on the first run when missing, only at
# synthetic_data.data_root (a misspelt data_root is an error, not a new
# dataset); a data_root that already holds a VOC-layout dataset is used as
# it is.
dataset_type = 'PascalVOCDataset'
data_root = 'data/shapes_voc'
synthetic_data = dict(
    data_root=data_root, num_train=400, num_val=100, size=64, seed=0)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
# Test-time augmentation (`tools/test.py --tta`): the image and its
# horizontal flip (the demo's images are 64 px: no other scales); the
# incremental wrapper puts the step's label remapping in both branches.
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[[
            dict(type='RandomFlip', prob=0., direction='horizontal'),
            dict(type='RandomFlip', prob=1., direction='horizontal')
        ], [dict(type='LoadAnnotations')], [dict(type='PackSegInputs')]])
]
# The demo's total batch: tools/train.py warns when batch_size x processes
# differs, and --auto-scale-lr scales the learning rates linearly.
auto_scale_lr = dict(enable=False, base_batch_size=8)
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        type='IncrementalSegDataset',
        split='train',
        protocol=None,  # set per step by the step scheduler
        step=0,
        dataset=dict(
            type=dataset_type,
            data_root=data_root,
            data_prefix=dict(
                img_path='JPEGImages', seg_map_path='SegmentationClass'),
            ann_file='ImageSets/Segmentation/train.txt',
            pipeline=train_pipeline)))
test_dataloader = dict(
    batch_size=10,
    num_workers=0,
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
                img_path='JPEGImages', seg_map_path='SegmentationClass'),
            ann_file='ImageSets/Segmentation/val.txt',
            pipeline=test_pipeline)))
test_evaluator = dict(type='IncrementalIoUMetric')
