# DKD (NeurIPS 2022; cvlab-yonsei/DKD) with DeepLabV3-R101 on Pascal VOC 2012
# (+SBD), on the authors' formulation: per-class sigmoid logits (no
# background logit), BCE on the new classes' logits with pos_weight 2 at
# step 0 and 1 later (the scripts' INIT_POSWEIGHT, config_voc.json);
# distillation of the old classes' logits (loss_kd) and of their positive
# and negative parts (loss_dkd_pos, loss_dkd_neg), weight 5 each; an
# auxiliary classifier (loss_ac, weight 1) that every new classifier starts
# from. At t > 0 (--freeze_bn) BN statistics, scale and shift and dropout are
# frozen, old classifiers keep learning, and the learning rate is x1 on the
# backbone and x10 on the decode head and the auxiliary classifier, with no
# weight decay (DKD keeps 1e-4 on the new classifier alone; here it is 0
# too: over a step that decay would scale its weights by > 0.998). Batch 32
# (the scripts' BS=8 on 4 GPUs). The base of the protocol leaves
# dkd_deeplabv3-r101_1xb32_voc-<task>-<setting>-512x512.py.
_base_ = [
    '../_base_/models/deeplabv3_r101-d16.py',
    '../_base_/datasets/voc_aug.py',
    '../_base_/schedules/voc_dkd.py',
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
            pos_weight=2.0,
            # 255 pixels are negatives of every new class, as in the authors'
            # code (False: cisseg's option to leave them out)
            void_as_negative=True,
            loss_weight=1.0)))
train_dataloader = dict(batch_size=32)
# the auxiliary classifier learns at the classifiers' rate
optim_wrapper = dict(
    paramwise_cfg=dict(custom_keys={'aux_classifier': dict(lr_mult=10.0)}))
incremental = dict(
    dataset='voc',
    method='dkd',
    step_overrides=dict(
        inc=dict(
            model=dict(
                freeze_bn=True,
                freeze_dropout=True,
                decode_head=dict(loss_decode=dict(pos_weight=1.0))),
            # the base learning rate of t > 0 is the schedule's
            optim_wrapper=dict(
                paramwise_cfg=dict(
                    custom_keys={
                        'backbone': dict(decay_mult=0.0),
                        'decode_head': dict(lr_mult=10.0, decay_mult=0.0),
                        'aux_classifier': dict(
                            lr_mult=10.0, decay_mult=0.0),
                    })))))
