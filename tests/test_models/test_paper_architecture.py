"""The paper configs build the STAR authors' DeepLabV3 (torchvision ResNet
layout at output stride 16, their ASPP head), built without weights."""
import copy
import os.path as osp

import pytest
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.config import Config

from mmseg.models.backbones import ResNet, ResNetV1c
from mmseg.registry import MODELS
from tests.conftest import REPO
from tests.test_models._tiny import build_tiny


def _bn(obj):
    """SyncBN -> BN, as the launcher does on a CPU machine."""
    if isinstance(obj, dict):
        return {k: ('BN' if k == 'type' and v == 'SyncBN' else _bn(v))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [_bn(v) for v in obj]
    return obj


def _paper_model(rel, classes_per_step=(16, 1)):
    cfg = Config.fromfile(osp.join(REPO, rel)).to_dict()['model']
    cfg = _bn(copy.deepcopy(cfg))
    cfg['backbone']['init_cfg'] = None  # never download in tests
    cfg['decode_head'].update(classes_per_step=list(classes_per_step),
                              num_classes=sum(classes_per_step))
    return cfg, MODELS.build(cfg)


@pytest.mark.parametrize('rel', [
    'configs/star/star-basic_deeplabv3-r101_1xb24_voc-15-1-overlap-512x512.py',
    'configs/star/star-basic_deeplabv3-r101_1xb24_'
    'ade-100-50-overlap-512x512.py',
    'configs/star/star-lite_deeplabv3-r101_1xb24_'
    'cityscapes-13-1-overlap-512x512.py',
])
def test_paper_configs_build_the_authors_backbone(rel):
    cfg = Config.fromfile(osp.join(REPO, rel)).model
    assert cfg.backbone.init_cfg == dict(
        type='Pretrained', checkpoint='torchvision://resnet101')
    _, model = _paper_model(rel)
    bb = model.backbone
    # torchvision layout: plain mmseg ResNet, 7x7 stem, max-pool, no deep
    # stem, stride on the 3x3 convs, plain 1x1 shortcuts
    assert type(bb) is ResNet and not isinstance(bb, ResNetV1c)
    assert bb.depth == 101 and not bb.deep_stem and not bb.avg_down
    assert bb.conv1.kernel_size == (7, 7) and bb.conv1.stride == (2, 2)
    assert bb.conv1.out_channels == 64
    assert isinstance(bb.maxpool, nn.MaxPool2d)
    assert [len(getattr(bb, f'layer{i}')) for i in (1, 2, 3, 4)] == \
        [3, 4, 23, 3]
    first = bb.layer2[0]
    assert first.conv1.stride == (1, 1) and first.conv2.stride == (2, 2)
    assert isinstance(first.downsample[0], nn.Conv2d) and \
        first.downsample[0].stride == (2, 2)
    # output stride 16: the last stage is dilated, its first block with
    # dilation 1 (torchvision's rule), the others 2
    assert [b.conv2.stride for b in bb.layer4] == [(1, 1)] * 3
    assert [b.conv2.dilation for b in bb.layer4] == [(1, 1), (2, 2), (2, 2)]
    assert all(b.conv2.dilation == (1, 1) for b in bb.layer3)
    assert bb.layer4[0].downsample[0].stride == (1, 1)
    # BN momentum 0.01 in the backbone (the authors' setting), 0.1 in ASPP
    assert {m.momentum for m in bb.modules()
            if isinstance(m, nn.BatchNorm2d)} == {0.01}
    assert {m.momentum for m in model.decode_head.modules()
            if isinstance(m, nn.BatchNorm2d)} == {0.1}
    model.eval()
    with torch.no_grad():
        feat = bb(torch.randn(1, 3, 64, 64))[0]
    assert feat.shape == (1, 2048, 4, 4)


def test_paper_configs_build_the_authors_head():
    _, model = _paper_model(
        'configs/star/star-basic_deeplabv3-r101_1xb24_'
        'voc-15-1-overlap-512x512.py')
    head = model.decode_head
    assert head.aspp_layout == 'torchvision' and head.formulation == 'sigmoid'
    # branches: 1x1, 3x3 at dilations 6, 12, 18, image pooling; 256 each
    convs = [m.conv for m in head.aspp_modules]
    assert [c.kernel_size for c in convs] == [(1, 1)] + [(3, 3)] * 3
    assert [c.dilation for c in convs] == [(1, 1), (6, 6), (12, 12), (18, 18)]
    assert [c.padding for c in convs] == [(0, 0), (6, 6), (12, 12), (18, 18)]
    assert all(c.in_channels == 2048 and c.out_channels == 256 and
               c.bias is None for c in convs)
    assert isinstance(head.image_pool[0], nn.AdaptiveAvgPool2d)
    assert head.image_pool[1].conv.kernel_size == (1, 1)
    # projection 1x1 (5 x 256 -> 256) + BN + ReLU, dropout 0.1, 3x3 conv
    proj, drop, last = head.bottleneck
    assert isinstance(proj, ConvModule) and isinstance(last, ConvModule)
    assert (proj.conv.in_channels, proj.conv.out_channels,
            proj.conv.kernel_size) == (1280, 256, (1, 1))
    assert isinstance(proj.bn, nn.BatchNorm2d) and proj.with_activation
    assert type(drop) is nn.Dropout and drop.p == 0.1
    assert (last.conv.in_channels, last.conv.out_channels,
            last.conv.kernel_size, last.conv.padding) == \
        (256, 256, (3, 3), (1, 1))
    assert isinstance(last.bn, nn.BatchNorm2d) and last.with_activation
    # no dropout before the classifiers: one 1x1 conv per step, 256 -> K_t
    assert head.dropout is None
    assert [(c.in_channels, c.out_channels, c.kernel_size)
            for c in head.conv_seg] == [(256, 15, (1, 1)), (256, 1, (1, 1))]


def _head(layout, **kw):
    return MODELS.build(dict(
        type='IncrementalASPPHead', in_channels=8, channels=4,
        dilations=(1, 2), dropout_ratio=0.5, classes_per_step=[3, 2],
        formulation='sigmoid', aspp_layout=layout,
        norm_cfg=dict(type='BN'), **kw))


def test_torchvision_layout_forward_by_hand():
    head = _head('torchvision').eval()
    x = torch.randn(2, 8, 5, 6)
    aspp = [m(x) for m in head.aspp_modules]
    pooled = head.image_pool(x).expand(-1, -1, 5, 6)  # pooling branch last
    proj, _, last = head.bottleneck
    feats = last(proj(torch.cat(aspp + [pooled], dim=1)))
    assert torch.allclose(head.forward_features([x]), feats, atol=1e-6)
    logits = torch.cat([c(feats) for c in head.conv_seg], dim=1)
    assert torch.allclose(head.forward([x]), logits, atol=1e-6)
    # dropout sits between the projection and the 3x3 conv
    head.train()
    torch.manual_seed(0)
    a = head.forward_features([x])
    torch.manual_seed(1)
    assert not torch.allclose(a, head.forward_features([x]))


def test_torchvision_layout_init_is_he_normal_fan_in():
    torch.manual_seed(0)
    head = MODELS.build(dict(
        type='IncrementalASPPHead', in_channels=512, channels=256,
        dilations=(1, 6), classes_per_step=[21], formulation='softmax',
        aspp_layout='torchvision', norm_cfg=dict(type='BN')))
    head.init_weights()
    proj = head.bottleneck[0].conv  # fan_in 3 x 256
    assert proj.weight.std().item() == pytest.approx(
        (2 / 768) ** 0.5, rel=0.05)
    cls = head.conv_seg[0]
    assert cls.weight.std().item() == pytest.approx((2 / 256) ** 0.5,
                                                    rel=0.1)
    assert torch.count_nonzero(cls.bias) == 0


def test_uniform_classifier_bias_is_pytorchs_default_draw():
    # cls_bias_init='uniform': U(-1/sqrt(C), 1/sqrt(C)), C = 256 inputs
    torch.manual_seed(0)
    head = MODELS.build(dict(
        type='IncrementalASPPHead', in_channels=64, channels=256,
        dilations=(1, 6), classes_per_step=[2000, 3], formulation='sigmoid',
        aspp_layout='torchvision', cls_bias_init='uniform',
        norm_cfg=dict(type='BN')))
    head.init_weights()
    bias = torch.cat([c.bias.detach() for c in head.conv_seg])
    assert bias.abs().max().item() <= 1 / 16
    assert bias.abs().max().item() > 0.9 / 16
    # uniform on (-b, b): standard deviation b / sqrt(3)
    assert bias.std().item() == pytest.approx(1 / 16 / 3 ** 0.5, rel=0.05)
    with pytest.raises(ValueError, match='cls_bias_init must be one of'):
        MODELS.build(dict(
            type='IncrementalASPPHead', in_channels=64, channels=256,
            dilations=(1, 6), classes_per_step=[3], cls_bias_init='default'))


def test_mmseg_layout_is_unchanged():
    head = _head('mmseg')
    assert isinstance(head.bottleneck, ConvModule)
    assert head.bottleneck.conv.kernel_size == (3, 3)
    assert isinstance(head.dropout, nn.Dropout2d)
    # the tiny demo-like model keeps mmseg's layout
    assert build_tiny([16]).decode_head.aspp_layout == 'mmseg'
    with pytest.raises(ValueError, match='aspp_layout'):
        _head('dkd')


def test_authors_r18_base_is_full_width_torchvision_layout():
    cfg, model = _paper_model('configs/_base_/models/deeplabv3_r18-authors.py',
                              (21, ))
    bb = model.backbone
    assert cfg['backbone']['init_cfg'] is None
    assert type(bb) is ResNet and bb.depth == 18 and not bb.deep_stem
    assert bb.conv1.out_channels == 64 and bb.conv1.kernel_size == (7, 7)
    assert [b.conv1.dilation for b in bb.layer4] == [(1, 1), (2, 2)]
    # mmseg's BasicBlock dilates its first 3x3 conv only
    assert [b.conv2.dilation for b in bb.layer4] == [(1, 1), (1, 1)]
    assert bb.layer4[1].conv1.padding == (2, 2)
    assert model.decode_head.aspp_layout == 'torchvision'
    assert model.decode_head.in_channels == 512
    assert model.decode_head.channels == 256
    model.eval()
    with torch.no_grad():
        feats, logits = model.decode_features(torch.randn(1, 3, 64, 64))
    assert feats.shape == (1, 256, 4, 4) and logits.shape == (1, 21, 4, 4)


def test_sigmoid_paper_configs_count_void_as_negative():
    """Every STAR/DKD paper config (and what inherits it: STAR-Lite, STAR-M)
    trains the BCE as the authors do, 255 pixels as negatives; the demo
    names cisseg's choice."""
    import glob
    leaves = sorted(glob.glob(osp.join(REPO, 'configs', 'star', '*.py')) +
                    glob.glob(osp.join(REPO, 'configs', 'dkd', '*.py')))
    assert len(leaves) > 30
    for path in leaves:
        loss = Config.fromfile(path).model.decode_head.loss_decode
        assert loss.type == 'NewClassBCELoss' and \
            loss.void_as_negative is True, path
    for name in ('star-basic_shapes.py', 'star-lite_shapes.py',
                 'dkd_shapes.py'):
        loss = Config.fromfile(osp.join(REPO, 'configs', 'demo', name)) \
            .model.decode_head.loss_decode
        assert loss.void_as_negative is False, name


def test_star_paper_configs_draw_classifier_biases_as_the_authors():
    """STAR's paper configs (and STAR-Lite, STAR-M) start the classifiers'
    biases as PyTorch's default draw, as the authors' do; the demo keeps
    cisseg's zero start."""
    import glob
    leaves = sorted(glob.glob(osp.join(REPO, 'configs', 'star', '*.py')))
    for path in leaves + [osp.join(
            REPO, 'configs', 'demo',
            'star-basic_r18-authors_shapes-15-1-overlap.py')]:
        head = Config.fromfile(path).model.decode_head
        assert head.cls_bias_init == 'uniform', path
    head = Config.fromfile(osp.join(REPO, 'configs', 'demo',
                                    'star-basic_shapes.py')).model.decode_head
    assert head.get('cls_bias_init', 'zero') == 'zero'


def test_star_basic_paper_configs_compute_statistics_as_the_authors():
    """STAR-Basic / STAR-M paper configs: statistics from an eval pass
    after the step, noise about the prototype the authors' code indexes,
    norms drawn per element; Cityscapes as STAR-TPAMI (dist noise, its
    replay rules). STAR-Lite replaces the hook with the derivation one."""
    import glob
    leaves = sorted(glob.glob(osp.join(REPO, 'configs', 'star', '*.py')))
    basic = [p for p in leaves if not osp.basename(p).startswith(
        'star-lite')]
    assert len(basic) > 20
    for path in basic + [osp.join(
            REPO, 'configs', 'demo',
            'star-basic_r18-authors_shapes-15-1-overlap.py')]:
        cfg = Config.fromfile(path)
        assert cfg.model.replay_norm_draw == 'per_element', path
        (hook, ) = [h for h in cfg.custom_hooks
                    if h.type == 'PrototypeReplayHook']
        assert hook.collect_in_last_epoch is False, path
        assert hook.noise_reference == 'authors_index', path
        city = 'cityscapes' in osp.basename(path)
        assert hook.get('noise', 'neurips') == ('dist' if city else
                                                'neurips'), path
        assert hook.get('replay_rule', 'neurips') == ('tpami' if city else
                                                      'neurips'), path
        assert cfg.test_evaluator.absent_iou == 'zero', path
        # their loader drops the last batch (replay counts per iteration)
        assert cfg.train_dataloader.drop_last is True, path
    demo = Config.fromfile(osp.join(REPO, 'configs', 'demo',
                                    'star-basic_shapes.py'))
    assert demo.model.get('replay_norm_draw', 'per_feature') == \
        'per_feature'
    assert demo.custom_hooks == [dict(type='PrototypeReplayHook')]


def test_real_dataset_loaders_pin_memory():
    # the authors' loaders pin host memory (configs/config_voc.json,
    # config_ade.json: pin_memory true); the synthetic demo's do not
    for name in ('voc_aug', 'ade20k', 'cityscapes'):
        cfg = Config.fromfile(
            osp.join(REPO, 'configs', '_base_', 'datasets', name + '.py'))
        for loader in ('train_dataloader', 'test_dataloader'):
            assert cfg[loader].pin_memory is True, (name, loader)
    demo = Config.fromfile(
        osp.join(REPO, 'configs', '_base_', 'datasets', 'shapes_voc.py'))
    assert not demo.train_dataloader.get('pin_memory', False)
