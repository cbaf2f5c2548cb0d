"""A tiny incremental DeepLabV3 for model tests."""
import copy

from mmseg.registry import MODELS

NORM = dict(type='BN', requires_grad=True)


def tiny_model_cfg(classes_per_step, seg_type='IncrementalEncoderDecoder',
                   formulation='softmax', **kwargs):
    cfg = dict(
        type=seg_type,
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[0, 0, 0],
                               std=[1, 1, 1], seg_pad_val=255),
        backbone=dict(type='ResNetV1c', depth=18, stem_channels=8,
                      base_channels=8, out_indices=(3, ),
                      dilations=(1, 1, 2, 4), strides=(1, 2, 1, 1),
                      norm_cfg=NORM, contract_dilation=True),
        decode_head=dict(
            type='IncrementalASPPHead', in_channels=64, in_index=0,
            channels=16, dilations=(1, 2), dropout_ratio=0.1,
            classes_per_step=list(classes_per_step), formulation=formulation,
            norm_cfg=NORM, align_corners=False,
            loss_decode=dict(type='CrossEntropyLoss', loss_weight=1.0)
            if formulation == 'softmax' else
            dict(type='NewClassBCELoss', pos_weight=4.0)),
        train_cfg=dict(), test_cfg=dict(mode='whole'))
    cfg.update(kwargs)
    return cfg


def build_tiny(classes_per_step, **kwargs):
    return MODELS.build(copy.deepcopy(tiny_model_cfg(classes_per_step,
                                                     **kwargs)))
