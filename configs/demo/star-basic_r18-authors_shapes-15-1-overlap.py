# STAR-Basic on the synthetic demo data (VOC 15-1 overlapped) with the
# network, optimiser, augmentation and evaluation of the authors' code, for
# the side-by-side run against a copy of it (docs/results.md, "Side by side
# with the authors' code"): their DeepLabV3 (torchvision-layout ResNet, OS16,
# their ASPP head) on a full-width ResNet-18 from scratch; SGD with Nesterov,
# x10 on the decode head at every step (x100 on the new classifier at t > 0),
# poly to 0; their random resized crop (0.5-2x the area) and flip, resized
# with PIL as torchvision does; at test,
# the val images with a seen class, resized and centre-cropped to 64. The
# demo's schedule: 1500 iterations at lr 0.05, then 200 at 0.002, batch 8.
_base_ = [
    '../_base_/models/deeplabv3_r18-authors.py',
    '../_base_/datasets/shapes_voc.py',
    '../_base_/schedules/shapes_demo_star.py',
    '../_base_/default_runtime.py',
]
# STAR-Basic as in star-basic_shapes.py
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
        num_classes=16,
        classes_per_step=[16],
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
    task='15-1',
    setting='overlap',
    step_overrides=dict(
        inc=dict(
            model=dict(freeze_bn=True, freeze_dropout=True),
            optim_wrapper=dict(
                paramwise_cfg=dict(
                    custom_keys={
                        'decode_head': dict(lr_mult=10.0),
                        # old classifiers are frozen: this is the new one
                        'decode_head.conv_seg': dict(lr_mult=100.0),
                    })))))
# the authors' optimiser (train_voc.py, config_voc.json) at the demo's rates
optim_wrapper = dict(
    optimizer=dict(nesterov=True),
    paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=10.0)}))
param_scheduler = [
    dict(type='PolyLR', eta_min=0.0, power=0.9, begin=0, by_epoch=False)
]
crop_size = (64, 64)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='RandomResizedCrop', size=crop_size, scale=(0.5, 2.0),
         ratio=(3. / 4., 4. / 3.), backend='pillow'),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='ResizeCenterCrop', size=64, crop_size=crop_size,
         backend='pillow'),
    dict(type='PackSegInputs')
]
# their loader drops the last incomplete batch: an epoch of a step has
# floor(images / batch) iterations, which sets the replay counts per iteration
train_dataloader = dict(
    drop_last=True,
    dataset=dict(
        protocol=dict(
            _delete_=True, dataset='voc', task='15-1', setting='overlap'),
        dataset=dict(pipeline=train_pipeline)))
test_dataloader = dict(dataset=dict(
    protocol=dict(
        _delete_=True, dataset='voc', task='15-1', setting='overlap'),
    test_images='seen',
    dataset=dict(pipeline=test_pipeline)))
