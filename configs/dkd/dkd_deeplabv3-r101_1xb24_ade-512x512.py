# DKD (NeurIPS 2022; cvlab-yonsei/DKD) with DeepLabV3-R101 on ADE20K: as
# dkd_deeplabv3-r101_1xb32_voc-512x512.py (sigmoid logits, BCE on the new
# classes, loss_kd, loss_dkd_pos and loss_dkd_neg with weight 5, loss_ac with
# weight 1, new classifiers from the auxiliary one, frozen BN and dropout at t
# > 0 with the same per-group learning rates and no weight decay), with the
# ADE20K settings of configs/config_ade.json and scripts/ade/overlapped/*: BCE
# pos_weight 35 at every step, batch 24, schedules/ade_dkd.py. The base of the
# protocol leaves dkd_deeplabv3-r101_1xb24_ade-<task>-overlap-512x512.py.
_base_ = [
    '../_base_/models/deeplabv3_r101-d16.py',
    '../_base_/datasets/ade20k.py',
    '../_base_/schedules/ade_dkd.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='DKDSegmentor',
    kd_loss=dict(type='SigmoidKDLoss', loss_weight=5.0, loss_name='loss_kd'),
    dkd_pos_loss=dict(
        type='SigmoidKDLoss', loss_weight=5.0, loss_name='loss_dkd_pos'),
    dkd_neg_loss=dict(
        type='SigmoidKDLoss', loss_weight=5.0, loss_name='loss_dkd_neg'),
    ac_loss=dict(type='AuxClassifierLoss', loss_weight=1.0),
    init_new_classifier='auxiliary',
    decode_head=dict(
        formulation='sigmoid',
        loss_decode=dict(
            _delete_=True,
            type='NewClassBCELoss',
            pos_weight=35.0,
            # 255 pixels are negatives of every new class, as in the authors'
            # code (False: cisseg's option to leave them out)
            void_as_negative=True,
            loss_weight=1.0)))
# the auxiliary classifier learns at the classifiers' rate
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'aux_classifier': dict(lr_mult=10.0)}))
incremental = dict(
    dataset='ade',
    method='dkd',
    step_overrides=dict(
        inc=dict(
            model=dict(freeze_bn=True, freeze_dropout=True),
            # the base learning rate of t > 0 is the schedule's
            optim_wrapper=dict(
                paramwise_cfg=dict(
                    custom_keys={
                        'backbone': dict(decay_mult=0.0),
                        'decode_head': dict(lr_mult=10.0, decay_mult=0.0),
                        'aux_classifier': dict(
                            lr_mult=10.0, decay_mult=0.0),
                    })))))
