import pytest
import torch
from mmengine.structures import PixelData

from mmseg.structures import SegDataSample
from tests.test_models._tiny import build_tiny


def _samples(label):
    out = []
    for lab in label:
        s = SegDataSample()
        s.gt_sem_seg = PixelData(data=lab[None])
        s.set_metainfo(dict(img_shape=lab.shape, ori_shape=lab.shape,
                            pad_shape=lab.shape))
        out.append(s)
    return out


def _with_old(seg_type, formulation, **kwargs):
    old = build_tiny([16], formulation=formulation)
    new = build_tiny([16, 1], seg_type=seg_type, formulation=formulation,
                     **kwargs)
    new.load_state_dict(old.state_dict(), strict=False)
    new.set_old_model(old)
    return new, old


def test_old_model_is_frozen_and_outside_state_dict(tmp_path):
    new, old = _with_old('STARSegmentor', 'sigmoid')
    assert not any(k.startswith('_old') for k in new.state_dict())
    n_params = sum(p.numel() for p in new.parameters())
    assert n_params == sum(p.numel() for p in build_tiny(
        [16, 1], formulation='sigmoid').parameters())
    new.train()
    assert not old.training
    assert all(not p.requires_grad for p in old.parameters())
    x = torch.randn(2, 3, 32, 32)
    label = torch.zeros(2, 32, 32, dtype=torch.long)
    label[:, :8] = 16
    label[:, 20:] = 255
    losses = new.loss(x, _samples(label))
    sum(losses.values()).backward()
    assert all(p.grad is None for p in old.parameters())
    # old classifiers are frozen, the new one learns
    assert new.decode_head.conv_seg[0].weight.grad is None
    assert new.decode_head.conv_seg[1].weight.grad is not None


def test_old_model_follows_device_and_dtype():
    new, old = _with_old('MiBSegmentor', 'softmax')
    new.double()
    assert next(old.parameters()).dtype == torch.float64


def test_load_old_model_rejects_wrong_class_count(tmp_path):
    other = build_tiny([11])
    path = str(tmp_path / 'ckpt.pth')
    torch.save(dict(state_dict=other.state_dict(), meta={}), path)
    new = build_tiny([16, 1])
    with pytest.raises(ValueError, match='not a checkpoint of step 0'):
        new.load_old_model(path)
    good = build_tiny([16])
    torch.save(dict(state_dict=good.state_dict(), meta={}), path)
    new.load_old_model(path)
    assert torch.equal(new.old_model.decode_head.conv_seg[0].weight,
                       good.decode_head.conv_seg[0].weight)


def test_mib_background_init():
    new, _ = _with_old('MiBSegmentor', 'softmax')
    bg = new.decode_head.conv_seg[0]
    w0, b0 = bg.weight[0].clone(), bg.bias[0].item()
    new.init_new_classifier()
    cls = new.decode_head.conv_seg[1]
    assert torch.equal(cls.weight[0], w0)
    assert cls.bias[0].item() == pytest.approx(b0 - torch.log(
        torch.tensor(2.)).item())
    assert bg.bias[0].item() == pytest.approx(cls.bias[0].item())
    # background + new class now share the old background probability
    x = torch.randn(1, 3, 32, 32)
    new.eval()
    _, z = new.decode_features(x)
    p = z.softmax(1)
    assert torch.allclose(p[:, 0], p[:, 16], atol=1e-6)


def test_star_new_classifier_kaiming_fan_in():
    # He init over the C input channels (the authors'): weight std
    # sqrt(2 / C), zero bias; fan_out (std sqrt(2) for one class) would
    # start the new logits ~4x larger than the features' scale allows.
    new, _ = _with_old('STARSegmentor', 'sigmoid')
    cls = new.decode_head.conv_seg[-1]
    assert tuple(cls.weight.shape[:2]) == (1, 16)
    torch.manual_seed(0)
    draws = []
    for _ in range(200):
        new.init_new_classifier()
        draws.append(cls.weight.detach().flatten().clone())
        assert torch.equal(cls.bias, torch.zeros(1))
    std = torch.cat(draws).std().item()
    assert std == pytest.approx((2 / 16) ** 0.5, rel=0.05)
    # the authors' bias: PyTorch's default draw, within 1/sqrt(16)
    new.decode_head.cls_bias_init = 'uniform'
    biases = []
    for _ in range(200):
        new.init_new_classifier()
        biases.append(cls.bias.item())
    assert max(map(abs, biases)) <= 0.25 and len(set(biases)) == 200
    assert max(biases) > 0.2 and min(biases) < -0.2


def test_mib_losses():
    new, _ = _with_old('MiBSegmentor', 'softmax')
    x = torch.randn(2, 3, 32, 32)
    label = torch.zeros(2, 32, 32, dtype=torch.long)
    label[:, :6] = 16
    losses = new.loss(x, _samples(label))
    assert set(losses) == {'loss_unce', 'loss_unkd'}


@pytest.mark.parametrize('switches,keys', [
    ({}, {'loss_bce', 'loss_ocfm', 'loss_sad'}),
    (dict(ocfm_loss=None), {'loss_bce', 'loss_sad'}),
    (dict(sad_loss=None), {'loss_bce', 'loss_ocfm'}),
])
def test_star_loss_parts_switch(switches, keys):
    from cisseg.models.utils import PrototypeBank
    new, _ = _with_old('STARSegmentor', 'sigmoid', **switches)
    bank = PrototypeBank({c: dict(prototype=torch.nn.functional.normalize(
        torch.rand(16), dim=0), noise=torch.full((16, ), .1), norm_mean=3.,
        norm_std=.5, count=100.) for c in range(1, 16)}, bg_count=500.)
    new.set_replay(bank, {c: 2 for c in range(1, 16)}, 1.5)
    x = torch.randn(2, 3, 32, 32)
    label = torch.zeros(2, 32, 32, dtype=torch.long)
    label[:, :8] = 16
    losses = new.loss(x, _samples(label))
    assert set(losses) == keys
    assert all(torch.isfinite(v) for v in losses.values())


def test_star_replay_and_bpr_change_bce_only_through_new_logits():
    from cisseg.models.utils import PrototypeBank
    torch.manual_seed(0)
    new, _ = _with_old('STARSegmentor', 'sigmoid', ocfm_loss=None,
                       sad_loss=None)
    new.eval()  # no dropout noise: compare the same forward
    x = torch.randn(2, 3, 32, 32)
    label = torch.zeros(2, 32, 32, dtype=torch.long)
    label[:, :8] = 16
    plain = new.loss(x, _samples(label))['loss_bce']
    bank = PrototypeBank({1: dict(prototype=torch.ones(16) / 4,
                                  noise=torch.zeros(16), norm_mean=1.,
                                  norm_std=0., count=10.)})
    new.set_replay(bank, {1: 64}, 0.0)
    replay = new.loss(x, _samples(label))['loss_bce']
    # replayed features (all equal) add softplus(new logit) with weight M/S
    head = new.decode_head
    f = torch.ones(1, 16) / 4
    z = head.classify(f)[:, -1]
    cells = 2 * 4 * 4
    w = 64 / cells
    expected = (plain + w * torch.nn.functional.softplus(z).sum()) / (1 + w)
    assert replay.item() == pytest.approx(expected.item(), rel=1e-5)


@pytest.mark.parametrize('draw', ['per_feature', 'per_element'])
def test_star_replays_with_its_norm_draw(draw):
    from cisseg.models.utils import PrototypeBank
    new, _ = _with_old('STARSegmentor', 'sigmoid', ocfm_loss=None,
                       sad_loss=None, replay_norm_draw=draw)
    seen = {}

    class Bank(PrototypeBank):
        def sample(self, *args, **kwargs):
            seen.update(kwargs)
            return super().sample(*args, **kwargs)

    new.set_replay(Bank({1: dict(prototype=torch.ones(16) / 4,
                                 noise=torch.zeros(16), norm_mean=1.,
                                 norm_std=0.5, count=10.)}), {1: 8}, 0.0)
    label = torch.zeros(2, 32, 32, dtype=torch.long)
    new.loss(torch.randn(2, 3, 32, 32), _samples(label))
    assert seen['norm_draw'] == draw
    with pytest.raises(ValueError, match='replay_norm_draw must be one of'):
        _with_old('STARSegmentor', 'sigmoid', replay_norm_draw='vector')


def test_star_needs_sigmoid_head():
    with pytest.raises(ValueError, match="formulation='sigmoid'"):
        build_tiny([16], seg_type='STARSegmentor', formulation='softmax')


def test_star_collects_training_features_for_prototypes():
    from cisseg.models.utils import FeatureStatistics, grid_labels
    new, _ = _with_old('STARSegmentor', 'sigmoid', freeze_bn=True,
                       freeze_dropout=True)
    new.train()  # BN frozen: training features equal eval features
    x = torch.randn(2, 3, 32, 32)
    label = torch.zeros(2, 32, 32, dtype=torch.long)
    label[:, :8] = 16
    label[:, 30:] = 255
    new.feature_stats = FeatureStatistics(17, 16)
    new.loss(x, _samples(label))
    with torch.no_grad():
        new.eval()
        feats, _ = new.decode_features(x)
    ref = FeatureStatistics(17, 16)
    ref.update(feats, grid_labels(label, feats.shape[2:]))
    got = new.feature_stats.finalize([0, 16])
    want = ref.finalize([0, 16])
    assert got[16]['count'] == want[16]['count'] > 0
    assert got[16]['prototype'].tolist() == pytest.approx(
        want[16]['prototype'].tolist(), abs=1e-5)
    assert got[0]['count'] == want[0]['count']


def test_old_model_bn_is_folded_without_changing_outputs():
    old = build_tiny([16], formulation='sigmoid')
    # non-trivial BN statistics
    old.train()
    with torch.no_grad():
        for _ in range(3):
            old.decode_features(torch.randn(2, 3, 32, 32) * 2 + 1)
    old.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        ref_feats, ref_logits = old.decode_features(x)
    new = build_tiny([16, 1], seg_type='STARSegmentor',
                     formulation='sigmoid')
    new.set_old_model(old)
    assert not any(isinstance(m, torch.nn.BatchNorm2d)
                   for m in new.old_model.modules())
    feats, logits = new.old_forward(x)
    assert torch.allclose(feats, ref_feats, atol=1e-4)
    assert torch.allclose(logits, ref_logits, atol=1e-4)


def test_frozen_bn_is_unchanged_by_a_training_iteration():
    """At t > 0 with freeze_bn, one real training iteration (mmengine's
    optimizer constructor, SGD with momentum and weight decay, the STAR
    learning-rate multipliers) leaves every BN weight, bias and running
    statistic as it was, while convolutions and the new classifier move."""
    from mmengine.optim import build_optim_wrapper
    from torch.nn.modules.batchnorm import _BatchNorm
    new, _ = _with_old('STARSegmentor', 'sigmoid', freeze_bn=True,
                       freeze_dropout=True)
    bns = {n: m for n, m in new.named_modules() if isinstance(m, _BatchNorm)}
    assert bns and all(not p.requires_grad for m in bns.values()
                       for p in m.parameters())
    with torch.no_grad():  # non-trivial affine parameters
        for m in bns.values():
            m.weight.uniform_(0.5, 1.5)
            m.bias.uniform_(-0.5, 0.5)
    before = {k: v.clone() for k, v in new.state_dict().items()}
    wrapper = build_optim_wrapper(new, dict(
        type='OptimWrapper',
        optimizer=dict(type='SGD', lr=0.1, momentum=0.9, nesterov=True,
                       weight_decay=0.1),
        paramwise_cfg=dict(custom_keys={
            'decode_head': dict(lr_mult=10.0),
            'decode_head.conv_seg': dict(lr_mult=100.0)})))
    new.train()
    x = torch.randn(2, 3, 32, 32)
    label = torch.zeros(2, 32, 32, dtype=torch.long)
    label[:, :8] = 16
    for _ in range(2):  # the second one applies momentum too
        losses = new.loss(x, _samples(label))
        wrapper.update_params(sum(losses.values()))
    after = new.state_dict()
    for name in bns:
        for key in ('weight', 'bias', 'running_mean', 'running_var',
                    'num_batches_tracked'):
            assert torch.equal(after[f'{name}.{key}'],
                               before[f'{name}.{key}']), f'{name}.{key}'
    assert not torch.equal(after['backbone.stem.0.weight'],
                           before['backbone.stem.0.weight'])
    assert not torch.equal(after['decode_head.conv_seg.1.weight'],
                           before['decode_head.conv_seg.1.weight'])
    # old classifiers: frozen, no weight decay either
    assert torch.equal(after['decode_head.conv_seg.0.weight'],
                       before['decode_head.conv_seg.0.weight'])


def test_bn_trains_without_freeze_bn():
    from mmengine.optim import build_optim_wrapper
    m = build_tiny([16], formulation='sigmoid')
    before = m.backbone.stem[1].weight.clone()
    mean = m.backbone.stem[1].running_mean.clone()
    wrapper = build_optim_wrapper(m, dict(
        type='OptimWrapper',
        optimizer=dict(type='SGD', lr=0.1, weight_decay=0.1)))
    m.train()
    label = torch.zeros(2, 32, 32, dtype=torch.long)
    label[:, :8] = 3
    losses = m.loss(torch.randn(2, 3, 32, 32), _samples(label))
    wrapper.update_params(sum(losses.values()))
    assert not torch.equal(m.backbone.stem[1].weight, before)
    assert not torch.equal(m.backbone.stem[1].running_mean, mean)
