# STAR-Basic (NeurIPS 2023) with DeepLabV3-R101 on Pascal VOC 2012 (+SBD), on
# the authors' formulation: per-class sigmoid logits (no background logit), BCE
# with pos_weight on the new classes only; prototype replay (PR) from stored
# prototypes, background pixel repetition (BPR), OCFM (weight 5) and SAD
# (weight 0.05). At t > 0 BN statistics and dropout are frozen, old classifiers
# get no gradient, and the learning rate is x10 on the decode head and x100 on
# the (new) classifier, as the authors train.
# BCE pos_weight 4 on the new-class logits (jinpeng0528/STAR
# configs/config_voc.json).
# Switch a part off for the ablation: model.prototype_replay=False,
# model.background_repetition=False, model.ocfm_loss=None, model.sad_loss=None.
# The base of the protocol leaves
# star-basic_deeplabv3-r101_1xb24_voc-<task>-<setting>-512x512.py and of
# star-lite_deeplabv3-r101_1xb24_voc-512x512.py.
_base_ = [
    '../_base_/models/deeplabv3_r101-d16.py',
    '../_base_/datasets/voc_aug.py',
    '../_base_/schedules/voc_star.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='STARSegmentor',
    prototype_replay=True,
    background_repetition=True,
    ocfm_loss=dict(type='OCFMLoss', loss_weight=5.0),
    sad_loss=dict(type='SADLoss', loss_weight=0.05),
    old_bg_logit=0.5,
    # a replayed feature's norm drawn per element, as the authors' code
    # ('per_feature': cisseg's option)
    replay_norm_draw='per_element',
    init_new_classifier='kaiming',
    freeze_old_classifiers=True,
    decode_head=dict(
        formulation='sigmoid',
        # classifier biases drawn as PyTorch's default, as the authors'
        # classifiers start ('zero': cisseg's option)
        cls_bias_init='uniform',
        loss_decode=dict(
            _delete_=True,
            type='NewClassBCELoss',
            pos_weight=4.0,
            # 255 pixels are negatives of every new class, as in the authors'
            # code (False: cisseg's option to leave them out)
            void_as_negative=True,
            loss_weight=1.0)))
# statistics from an eval-mode pass after each step, new classes' noise
# measured about the prototype their code indexes (cisseg's options:
# collect_in_last_epoch=True, noise_reference='own')
custom_hooks = [
    dict(
        type='PrototypeReplayHook',
        collect_in_last_epoch=False,
        noise_reference='authors_index')
]
# a seen class absent from every evaluated image counts as IoU 0, as in the
# authors' means ('ignore', the default: left out)
test_evaluator = dict(absent_iou='zero')
incremental = dict(
    dataset='voc',
    method='star_basic',
    step_overrides=dict(
        inc=dict(
            model=dict(freeze_bn=True, freeze_dropout=True),
            # the base learning rate of t > 0 is the schedule's
            optim_wrapper=dict(
                paramwise_cfg=dict(
                    custom_keys={
                        'decode_head': dict(lr_mult=10.0),
                        # old classifiers are frozen: this is the new one
                        'decode_head.conv_seg': dict(lr_mult=100.0),
                    })))))
