# Pascal VOC 2012 with the SBD augmented labels, as class-incremental papers
# train it: 10,582 training images (ImageSets/Segmentation/trainaug.txt, all
# labels under SegmentationClassAug/, VOC's own labels where VOC has them),
# 1,449 val images (SegmentationClass/). Prepared by
# tools/dataset_converters/voc_aug.py (data/README.md). mmseg's
# PascalVOCDataset; the incremental wrapper filters the training images per
# step and remaps the labels.
# Training: the MiB / DKD / STAR crop, a random window of 0.5-2x the image's
# area and aspect ratio 3/4-4/3 resized to 512x512, and a horizontal flip.
# Resizing with PIL (backend='pillow'), as their torchvision transforms do.
# Evaluation as the STAR authors evaluate at step t: the val images with at
# least one class seen so far (test_images='seen'), unseen classes labelled
# background, each image resized to a 512 px shorter side and its central
# 512x512 window evaluated. The whole-image protocol on every val image:
#   test_dataloader=dict(dataset=dict(
#       test_images='all', dataset=dict(pipeline=whole_test_pipeline)))
# (in a leaf config: whole_test_pipeline={{_base_.whole_test_pipeline}}).
dataset_type = 'PascalVOCDataset'
data_root = 'data/VOCdevkit/VOC2012'
crop_size = (512, 512)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='RandomResizedCrop',
        size=crop_size,
        scale=(0.5, 2.0),
        ratio=(3. / 4., 4. / 3.),
        backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(
        type='ResizeCenterCrop', size=512, crop_size=crop_size,
        backend='pillow'),
    dict(type='PackSegInputs')
]
whole_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs')
]
# Test-time augmentation (`tools/test.py --tta`; not the papers' protocol):
# mmseg's multi-scale + flip on the whole image; the incremental wrapper puts
# the step's label remapping after LoadAnnotations in every branch.
img_ratios = [0.5, 0.75, 1.0, 1.25, 1.5, 1.75]
tta_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(
        type='TestTimeAug',
        transforms=[
            [
                dict(type='Resize', scale_factor=r, keep_ratio=True)
                for r in img_ratios
            ],
            [
                dict(type='RandomFlip', prob=0., direction='horizontal'),
                dict(type='RandomFlip', prob=1., direction='horizontal')
            ], [dict(type='LoadAnnotations')], [dict(type='PackSegInputs')]
        ])
]
# The papers' total batch: tools/train.py warns when batch_size x GPUs
# differs, and --auto-scale-lr scales the learning rates linearly.
auto_scale_lr = dict(enable=False, base_batch_size=24)
# Batch 24 in all (MiB, DKD, STAR): per GPU, so divide it by the number of
# GPUs (e.g. train_dataloader.batch_size=6 on 4 GPUs).
train_dataloader = dict(
    batch_size=24,
    num_workers=4,
    pin_memory=True,  # as the authors' loaders: faster copies to the GPU
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
                img_path='JPEGImages', seg_map_path='SegmentationClassAug'),
            ann_file='ImageSets/Segmentation/trainaug.txt',
            pipeline=train_pipeline)))
test_dataloader = dict(
    batch_size=1,
    num_workers=4,
    pin_memory=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        type='IncrementalSegDataset',
        split='test',
        protocol=None,
        step=0,
        test_images='seen',
        dataset=dict(
            type=dataset_type,
            data_root=data_root,
            data_prefix=dict(
                img_path='JPEGImages', seg_map_path='SegmentationClass'),
            ann_file='ImageSets/Segmentation/val.txt',
            pipeline=test_pipeline)))
test_evaluator = dict(type='IncrementalIoUMetric')
