# DeepLabV3 on ResNetV1c-101 at output stride 16, the model of MiB, PLOP,
# DKD and STAR: strides (1, 2, 2, 1) with dilation 2 in the last stage, ASPP
# rates (1, 6, 12, 18), 256 ASPP channels (the authors' 256 -> classes 1x1
# classifiers), no auxiliary head, ImageNet-pretrained backbone. SyncBN: on a
# CPU-only machine the launcher turns it into BN (cisseg.engine.launch).
# The decode head's classifier grows per step: the step scheduler sets
# classes_per_step and num_classes.
norm_cfg = dict(type='SyncBN', requires_grad=True)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    # training crops are already padded to the crop size by the dataset
    # pipelines (Pad); this only asks mmseg for a multiple of the stride
    size_divisor=16)
model = dict(
    type='IncrementalEncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNetV1c',
        depth=101,
        num_stages=4,
        out_indices=(3, ),
        strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 2),
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        contract_dilation=True,
        init_cfg=dict(
            type='Pretrained', checkpoint='open-mmlab://resnet101_v1c')),
    decode_head=dict(
        type='IncrementalASPPHead',
        in_channels=2048,
        in_index=0,
        channels=256,
        dilations=(1, 6, 12, 18),
        dropout_ratio=0.1,
        classes_per_step=[21],
        formulation='softmax',
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
