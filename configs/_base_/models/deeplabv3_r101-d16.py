# DeepLabV3 at output stride 16 as the STAR (and DKD) code builds it:
# - backbone: torchvision's ResNet-101 layout in mmseg's ResNet (7x7 stem, no
#   deep stem, stride on the 3x3 convs = style 'pytorch', plain 1x1
#   shortcuts), strides (1, 2, 2, 1) with dilation 2 in the last stage, whose
#   first block keeps dilation 1 (contract_dilation, torchvision's rule);
#   torchvision's ImageNet weights (torchvision://resnet101). Backbone BN
#   momentum 0.01 (torch convention), as the authors set it; ASPP BN 0.1.
# - head: the authors' (torchvision's) ASPP layout: 1x1 + three 3x3 branches
#   (dilations 6, 12, 18) + image pooling, 256 channels each, 1x1 projection,
#   dropout 0.1, 3x3 conv, then one 1x1 classifier per step (256 -> classes
#   of the step); no auxiliary head.
# SyncBN: on a CPU-only machine the launcher turns it into BN
# (cisseg.engine.launch). The decode head's classifier grows per step: the
# step scheduler sets classes_per_step and num_classes.
norm_cfg = dict(type='SyncBN', requires_grad=True)
backbone_norm_cfg = dict(type='SyncBN', requires_grad=True, momentum=0.01)
data_preprocessor = dict(
    type='SegDataPreProcessor',
    mean=[123.675, 116.28, 103.53],
    std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True,
    pad_val=0,
    seg_pad_val=255,
    # training crops already have the crop size (datasets/*.py); this only
    # asks mmseg for a multiple of the stride
    size_divisor=16)
model = dict(
    type='IncrementalEncoderDecoder',
    data_preprocessor=data_preprocessor,
    backbone=dict(
        type='ResNet',
        depth=101,
        num_stages=4,
        out_indices=(3, ),
        strides=(1, 2, 2, 1),
        dilations=(1, 1, 1, 2),
        deep_stem=False,
        avg_down=False,
        contract_dilation=True,
        style='pytorch',
        norm_cfg=backbone_norm_cfg,
        norm_eval=False,
        zero_init_residual=False,
        init_cfg=dict(
            type='Pretrained', checkpoint='torchvision://resnet101')),
    decode_head=dict(
        type='IncrementalASPPHead',
        in_channels=2048,
        in_index=0,
        channels=256,
        dilations=(1, 6, 12, 18),
        dropout_ratio=0.1,
        aspp_layout='torchvision',
        classes_per_step=[21],
        formulation='softmax',
        norm_cfg=norm_cfg,
        align_corners=False,
        loss_decode=dict(
            type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
