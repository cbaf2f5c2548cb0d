"""DKD: its losses by hand and the segmentor at steps 0 and 1."""
import math

import pytest
import torch

from cisseg.models.losses import (AuxClassifierLoss, SigmoidKDLoss,
                                  decompose_logits, sigmoid_kd)
from tests.test_models._tiny import build_tiny
from tests.test_models.test_segmentors import _samples


def softplus(x):
    return math.log(1 + math.exp(x))


def test_sigmoid_kd_by_hand():
    # BCE(x, t) = softplus(x) - t x
    logits = torch.tensor([[0., 1.], [2., -1.]]).view(1, 2, 1, 2)
    logits.requires_grad_(True)
    old = torch.tensor([[0., 0.], [math.log(3.), 0.]]).view(1, 2, 1, 2)
    old.requires_grad_(True)
    c0 = (math.log(2) + softplus(1.) - 0.5) / 2
    c1 = (softplus(2.) - 0.75 * 2 + softplus(-1.) + 0.5) / 2
    assert sigmoid_kd(logits, old).tolist() == pytest.approx([c0, c1])
    loss = SigmoidKDLoss(loss_weight=5.0)(logits, old)
    assert loss.item() == pytest.approx(5 * (c0 + c1))
    loss.backward()
    assert old.grad is None  # the old logits are targets only
    # d/dx BCE(x, t) = sigmoid(x) - t, averaged over the 2 pixels, x5
    want = 5 * (torch.sigmoid(logits) - torch.sigmoid(old)) / 2
    assert torch.allclose(logits.grad, want.detach())


def test_decompose_logits_positive_and_negative_parts():
    feat = torch.tensor([1., 2., 3.]).view(1, 3, 1, 1)
    weight = torch.tensor([[1., -1., 2.], [-2., 0.5, -1.]])
    pos, neg = decompose_logits(feat, weight.view(2, 3, 1, 1))
    # class 0: 1*1 + 3*2 = 7 and 2*(-1) = -2; class 1: 2*0.5 = 1 and
    # 1*(-2) + 3*(-1) = -5
    assert pos.flatten().tolist() == [7., 1.]
    assert neg.flatten().tolist() == [-2., -5.]
    # the parts add up to the logits without bias
    assert (pos + neg).flatten().tolist() == (weight @ feat.flatten()).tolist()


def test_aux_classifier_loss_is_zero_target_bce():
    x = torch.tensor([0., 2., -1., 1.]).view(2, 1, 1, 2)
    want = (softplus(0.) + softplus(2.) + softplus(-1.) + softplus(1.)) / 4
    assert AuxClassifierLoss()(x).item() == pytest.approx(want)


# ----------------------------------------------------------------- segmentor
def _dkd_pair(**kwargs):
    old = build_tiny([16], formulation='sigmoid')
    new = build_tiny([16, 1], seg_type='DKDSegmentor', formulation='sigmoid',
                     **kwargs)
    new.load_state_dict(old.state_dict(), strict=False)
    new.set_old_model(old)
    return new, old


def _batch(n=2, size=32):
    x = torch.randn(n, 3, size, size)
    label = torch.zeros(n, size, size, dtype=torch.long)
    label[:, :8] = 16
    label[:, 28:] = 255
    return x, label


def test_dkd_losses_per_step():
    step0 = build_tiny([16], seg_type='DKDSegmentor', formulation='sigmoid')
    x, label = _batch()
    label[label == 16] = 3
    assert set(step0.loss(x, _samples(label))) == {'decode.loss_bce',
                                                   'loss_ac'}
    new, old = _dkd_pair()
    x, label = _batch()
    losses = new.loss(x, _samples(label))
    assert set(losses) == {'decode.loss_bce', 'loss_ac', 'loss_kd',
                           'loss_dkd_pos', 'loss_dkd_neg'}
    sum(losses.values()).backward()
    assert all(p.grad is None for p in old.parameters())
    # old classifiers keep learning (DKD), the new one too
    assert new.decode_head.conv_seg[0].weight.grad.abs().sum() > 0
    assert new.decode_head.conv_seg[1].weight.grad.abs().sum() > 0


def test_dkd_auxiliary_classifier_sees_detached_features():
    new, _ = _dkd_pair()
    x, label = _batch()
    new.loss(x, _samples(label))['loss_ac'].backward()
    assert new.aux_classifier.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in new.backbone.parameters())


def test_dkd_distillation_is_at_its_minimum_when_nothing_changed():
    # BCE(x, sigmoid(x')) has gradient sigmoid(x) - sigmoid(x'): zero when
    # the current model equals the old one, for the logits and both parts.
    new, _ = _dkd_pair()
    new.eval()  # no dropout, same BN statistics as the old model
    x, label = _batch()
    losses = new.loss(x, _samples(label))
    (losses['loss_kd'] + losses['loss_dkd_pos'] +
     losses['loss_dkd_neg']).backward()
    grads = [p.grad for p in new.backbone.parameters() if p.grad is not None]
    assert grads and max(g.abs().max().item() for g in grads) < 1e-5
    assert new.decode_head.conv_seg[1].weight.grad is None or \
        new.decode_head.conv_seg[1].weight.grad.abs().max() == 0


def test_dkd_distills_old_classes_only():
    new, _ = _dkd_pair()
    new.eval()
    x, label = _batch()
    before = new.loss(x, _samples(label))
    with torch.no_grad():
        new.decode_head.conv_seg[1].weight.normal_(std=3.0)
    after = new.loss(x, _samples(label))
    for key in ('loss_kd', 'loss_dkd_pos', 'loss_dkd_neg'):
        assert after[key].item() == pytest.approx(before[key].item())
    assert after['decode.loss_bce'].item() != pytest.approx(
        before['decode.loss_bce'].item())


def test_dkd_new_classifier_starts_as_the_auxiliary_one():
    new, _ = _dkd_pair()
    with torch.no_grad():
        new.aux_classifier.weight.normal_()
        new.aux_classifier.bias.fill_(-2.5)
    new.init_new_classifier()
    cls = new.decode_head.conv_seg[-1]
    assert torch.equal(cls.weight, new.aux_classifier.weight)
    assert cls.bias.tolist() == [-2.5]
    # the auxiliary classifier is saved with the model; the old model
    # (built without it) loads the same checkpoint
    assert 'aux_classifier.weight' in new.state_dict()


def test_dkd_needs_sigmoid_head():
    with pytest.raises(ValueError, match="formulation='sigmoid'"):
        build_tiny([16], seg_type='DKDSegmentor', formulation='softmax')
