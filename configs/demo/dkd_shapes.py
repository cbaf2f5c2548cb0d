# DKD on the synthetic "shapes" data (the CPU demo), with the demo's schedule
# (schedules/shapes_demo.py: one learning rate at step 0, 10x smaller at t >
# 0): the losses and weights of
# configs/dkd/dkd_deeplabv3-r101_1xb32_voc-512x512.py (sigmoid logits, BCE
# pos_weight 2 at step 0 and 1 later, loss_kd, loss_dkd_pos, loss_dkd_neg with
# weight 5, loss_ac with weight 1, new classifiers from the auxiliary one) and
# its t > 0 rule: frozen BN and dropout, x10 on the decode head and the
# auxiliary classifier, no weight decay. The protocol leaves
# (dkd_shapes-<task>-<setting>.py) inherit it.
_base_ = [
    '../_base_/models/deeplabv3_r18-tiny.py',
    '../_base_/datasets/shapes_voc.py',
    '../_base_/schedules/shapes_demo.py',
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
            # cisseg's choice on the demo: leave 255 outlines out of the BCE
            # (the paper configs count them as negatives, as the authors do)
            void_as_negative=False,
            loss_weight=1.0)))
incremental = dict(
    dataset='voc',
    method='dkd',
    step_overrides=dict(
        inc=dict(
            model=dict(
                freeze_bn=True,
                freeze_dropout=True,
                decode_head=dict(loss_decode=dict(pos_weight=1.0))),
            optim_wrapper=dict(
                paramwise_cfg=dict(
                    custom_keys={
                        'backbone': dict(decay_mult=0.0),
                        'decode_head': dict(lr_mult=10.0, decay_mult=0.0),
                        'aux_classifier': dict(
                            lr_mult=10.0, decay_mult=0.0),
                    })))))
