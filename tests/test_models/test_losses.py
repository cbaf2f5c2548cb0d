import math

import pytest
import torch

from cisseg.models.losses import (NewClassBCELoss, OCFMLoss, SADLoss,
                                  UnbiasedCrossEntropyLoss, UnbiasedKDLoss,
                                  new_class_bce, zero_target_bce)


def softplus(x):
    return math.log(1 + math.exp(x))


def test_new_class_bce_by_hand():
    logits = torch.tensor([0., 1., -1.]).view(1, 1, 1, 3)
    label = torch.tensor([16, 0, 255]).view(1, 1, 3)
    # pixel 0 positive (weight 4), pixel 1 negative, pixel 2 ignored
    expected = (4 * math.log(2) + softplus(1.)) / 2
    got = new_class_bce(logits, label, first_class=16, pos_weight=4.0)
    assert got.shape == (1, )
    assert got.item() == pytest.approx(expected, rel=1e-6)
    loss = NewClassBCELoss(pos_weight=4.0, loss_weight=2.0)
    assert loss(logits, label, 16).item() == pytest.approx(2 * expected)


def test_new_class_bce_void_as_negative_by_hand():
    """The authors' WBCELoss: a 255 pixel is a negative of every new class
    and counts in the mean (here: softplus(-1) over 3 pixels)."""
    logits = torch.tensor([0., 1., -1.]).view(1, 1, 1, 3)
    label = torch.tensor([16, 0, 255]).view(1, 1, 3)
    expected = (4 * math.log(2) + softplus(1.) + softplus(-1.)) / 3
    got = new_class_bce(logits, label, first_class=16, ignore_index=None)
    assert got.item() == pytest.approx(expected, rel=1e-6)
    loss = NewClassBCELoss(pos_weight=4.0, void_as_negative=True)
    assert loss(logits, label, 16, ignore_index=255).item() == \
        pytest.approx(expected, rel=1e-6)


def test_new_class_bce_sums_classes():
    logits = torch.tensor([[0.5, -0.5], [2.0, 0.0]]).view(1, 2, 1, 2)
    label = torch.tensor([3, 4]).view(1, 1, 2)  # classes 3 and 4
    c3 = (4 * softplus(-0.5) + softplus(-0.5)) / 2
    c4 = (softplus(2.0) + 4 * softplus(0.0)) / 2
    per_class = new_class_bce(logits, label, first_class=3)
    assert per_class.tolist() == pytest.approx([c3, c4], rel=1e-6)


def test_zero_target_bce():
    x = torch.tensor([[0.0, 2.0], [1.0, -1.0]])
    assert zero_target_bce(x).tolist() == pytest.approx(
        [(softplus(0) + softplus(1)) / 2, (softplus(2) + softplus(-1)) / 2])
    assert zero_target_bce(torch.zeros(0, 3)).tolist() == [0, 0, 0]


def test_ocfm_only_inside_the_mask():
    feat = torch.zeros(1, 2, 1, 3, requires_grad=True)
    old = torch.tensor([[1., 2., 3.], [1., 2., 3.]]).view(1, 2, 1, 3)
    mask = torch.tensor([1.0, 0.5, 0.0]).view(1, 1, 1, 3)
    # (1*(1+1) + 0.5*(4+4)) / (1.5 * 2)
    loss = OCFMLoss(loss_weight=5.0)(feat, old, mask)
    assert loss.item() == pytest.approx(5.0 * 6.0 / 3.0)
    loss.backward()
    assert feat.grad[0, :, 0, 2].abs().sum() == 0  # outside: no gradient
    assert feat.grad[0, :, 0, 0].abs().sum() > 0
    empty = OCFMLoss()(feat, old, torch.zeros_like(mask))
    assert empty.item() == 0


def test_sad_picks_the_closest_old_prototype():
    feat = torch.zeros(1, 2, 2, 2)
    feat[0, :, 0, :] = torch.tensor([3., 1.]).view(2, 1)  # class 16 region
    feat[0, :, 1, :] = torch.tensor([0., 1.]).view(2, 1)
    label = torch.tensor([[16, 16], [0, 0]]).view(1, 2, 2)
    protos = torch.tensor([[1., 0.], [0., 1.]])
    u = torch.tensor([3., 1.]) / math.sqrt(10)
    closest = (u - protos[0]).norm().item()  # [1,0] is closest
    assert closest < (u - protos[1]).norm().item()
    loss = SADLoss(loss_weight=1.0)(feat, label, [16], protos)
    assert loss.item() == pytest.approx(1 / closest, rel=1e-5)
    # an absent new class adds 1 / min_i ||0 - p_i|| = 1 (unit prototypes)
    # and the mean runs over all K new classes, as in the authors' code
    both = SADLoss(loss_weight=1.0)(feat, label, [16, 17], protos)
    assert both.item() == pytest.approx((1 / closest + 1.0) / 2, rel=1e-5)
    assert SADLoss(loss_weight=1.0)(feat, label, [17], protos).item() == \
        pytest.approx(1.0)


def test_sad_absent_classes_are_constant_terms():
    feat = torch.zeros(1, 2, 1, 2, requires_grad=True)
    with torch.no_grad():
        feat[0, :, 0, 0] = torch.tensor([0., 1.])
        feat[0, :, 0, 1] = torch.tensor([0., 1.])
    label = torch.tensor([[3, 255]]).view(1, 1, 2)
    protos = torch.tensor([[2., 0.], [0., 4.]])  # norms 2 and 4
    # class 3: centre [0, 1], distances [sqrt(5), 3] -> 1 / sqrt(5);
    # classes 4, 5 absent (255 is not a class): 1 / min(2, 4) each; K = 3
    loss = SADLoss(loss_weight=1.0)(feat, label, [3, 4, 5], protos)
    assert loss.item() == pytest.approx((1 / math.sqrt(5) + 0.5 + 0.5) / 3,
                                        rel=1e-5)
    loss.backward()
    # only class 3's term depends on the features: its gradient, / K
    one = torch.zeros(1, 2, 1, 2, requires_grad=True)
    with torch.no_grad():
        one.copy_(feat)
    (SADLoss(loss_weight=1.0)(one, label, [3], protos) / 3).backward()
    assert torch.allclose(feat.grad, one.grad, atol=1e-7)


def test_sad_mean_over_new_classes():
    feat = torch.zeros(1, 2, 1, 2)
    feat[0, :, 0, 0] = torch.tensor([1., 0.])
    feat[0, :, 0, 1] = torch.tensor([0., 2.])
    label = torch.tensor([[5, 6]]).view(1, 1, 2)
    protos = torch.tensor([[0.6, 0.8]])
    d5 = (torch.tensor([1., 0.]) - protos[0]).norm().item()
    d6 = (torch.tensor([0., 1.]) - protos[0]).norm().item()
    loss = SADLoss(loss_weight=1.0)(feat, label, [5, 6], protos)
    assert loss.item() == pytest.approx((1 / d5 + 1 / d6) / 2, rel=1e-5)


def test_unbiased_cross_entropy_by_hand():
    z = torch.tensor([[1.0, 0.0], [2.0, 1.0], [0.5, 3.0]]).view(1, 3, 1, 2)
    label = torch.tensor([0, 2]).view(1, 1, 2)
    z0, z1 = z[0, :, 0, 0].tolist(), z[0, :, 0, 1].tolist()
    l0 = -math.log((math.exp(z0[0]) + math.exp(z0[1])) /
                   sum(math.exp(v) for v in z0))
    l1 = -math.log(math.exp(z1[2]) / sum(math.exp(v) for v in z1))
    loss = UnbiasedCrossEntropyLoss()(z, label, num_old=2)
    assert loss.item() == pytest.approx((l0 + l1) / 2, rel=1e-6)
    ignored = torch.tensor([0, 255]).view(1, 1, 2)
    assert UnbiasedCrossEntropyLoss()(z, ignored, 2).item() == \
        pytest.approx(l0, rel=1e-6)


def test_unbiased_kd_by_hand():
    z = torch.tensor([0.2, 1.0, -0.5, 0.7]).view(1, 4, 1, 1)  # bg,1,2,new
    z_old = torch.tensor([0.0, 2.0, 1.0]).view(1, 3, 1, 1)
    zs, zo = z.flatten().tolist(), z_old.flatten().tolist()
    lse = math.log(sum(math.exp(v) for v in zs))
    q = [math.exp(v) / sum(math.exp(w) for w in zo) for v in zo]
    log_bg = math.log(math.exp(zs[0]) + math.exp(zs[3])) - lse
    expected = -(q[0] * log_bg + q[1] * (zs[1] - lse) +
                 q[2] * (zs[2] - lse)) / 3
    loss = UnbiasedKDLoss(loss_weight=1.0)(z, z_old)
    assert loss.item() == pytest.approx(expected, rel=1e-6)


def test_unbiased_kd_zero_gradient_when_equal_distributions():
    # a new model equal to the old one on old classes (no new mass) is
    # a stationary point of the KD
    z_old = torch.randn(1, 3, 2, 2)
    z = torch.cat([z_old, torch.full((1, 1, 2, 2), -30.)], 1)
    z.requires_grad_(True)
    UnbiasedKDLoss()(z, z_old).backward()
    assert z.grad[:, :3].abs().max() < 1e-4
