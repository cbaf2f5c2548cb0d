import pytest
import torch

from mmseg.models.losses import accuracy
from mmseg.structures import SegDataSample
from mmengine.structures import PixelData
from cisseg.models.decode_heads.incremental_aspp_head import pixel_accuracy

from tests.test_models._tiny import build_tiny


def test_classifier_grows_and_keeps_old_weights():
    old = build_tiny([16])
    new = build_tiny([16, 1])
    missing, unexpected = new.load_state_dict(old.state_dict(), strict=False)
    assert missing == ['decode_head.conv_seg.1.weight',
                       'decode_head.conv_seg.1.bias']
    assert not unexpected
    assert torch.equal(new.decode_head.conv_seg[0].weight,
                       old.decode_head.conv_seg[0].weight)
    assert new.decode_head.conv_seg[1].out_channels == 1
    x = torch.randn(2, 3, 32, 32)
    new.eval(), old.eval()
    with torch.no_grad():
        _, lo = old.decode_features(x)
        _, ln = new.decode_features(x)
    assert ln.shape[1] == 17
    assert torch.allclose(ln[:, :16], lo, atol=1e-5)


def test_sigmoid_head_has_no_background_logit():
    m = build_tiny([16, 2], formulation='sigmoid')
    assert m.decode_head.logits_per_step == [15, 2]
    assert m.decode_head.num_new_logits == 2


def test_sigmoid_prediction_rule():
    m = build_tiny([3], formulation='sigmoid')
    head = m.decode_head
    logits = torch.tensor([[-1.0, -0.2], [2.0, 0.5], [0.1, 3.0]]) \
        .t().reshape(1, 2, 1, 3)  # fg logits of classes 1, 2 at 3 pixels
    pred = head.to_class_scores(logits).argmax(1)
    assert pred.flatten().tolist() == [0, 1, 2]  # none > 0 -> background
    pred = head.to_class_scores(logits, bg_logit=2.5).argmax(1)
    assert pred.flatten().tolist() == [0, 0, 2]


def test_classify_vectors_matches_conv():
    m = build_tiny([16, 1], formulation='sigmoid').eval()
    feat = torch.randn(5, 16)
    by_vec = m.decode_head.classify(feat)
    by_map = m.decode_head.classify(feat.view(5, 16, 1, 1)).flatten(1)
    assert torch.allclose(by_vec, by_map, atol=1e-5)


def test_bad_head_config():
    from mmseg.registry import MODELS
    with pytest.raises(ValueError, match='does not match'):
        MODELS.build(dict(type='IncrementalASPPHead', in_channels=8,
                          channels=4, num_classes=20,
                          classes_per_step=[16, 1]))
    with pytest.raises(ValueError, match='formulation'):
        MODELS.build(dict(type='IncrementalASPPHead', in_channels=8,
                          channels=4, classes_per_step=[16],
                          formulation='softmax2'))


def test_fused_classifier_equals_each_step_conv():
    """One convolution over the concatenated classifiers gives each step's
    own logits, and the gradients reach only the trainable steps."""
    m = build_tiny([16, 2, 1, 1], formulation='sigmoid')
    head = m.decode_head
    for conv in head.conv_seg[:-1]:  # old classifiers frozen, as at t > 0
        conv.requires_grad_(False)
    feat = torch.randn(2, 16, 5, 5)
    per_step = torch.cat([conv(feat) for conv in head.conv_seg], dim=1)
    fused = head.classify(feat)
    assert fused.shape == (2, 15 + 2 + 1 + 1, 5, 5)
    assert torch.allclose(fused, per_step, atol=1e-5)
    fused[:, -1].sum().backward()
    assert all(c.weight.grad is None for c in head.conv_seg[:-1])
    expected = feat.sum(dim=(0, 2, 3))  # d(sum of logit)/d(weight)
    assert torch.allclose(head.conv_seg[-1].weight.grad.flatten(), expected,
                          atol=1e-4)
    assert head.conv_seg[-1].bias.grad.item() == 2 * 5 * 5


def test_pixel_accuracy_equals_mmseg_accuracy():
    torch.manual_seed(0)
    logits = torch.randn(2, 5, 8, 8)
    label = torch.randint(0, 5, (2, 8, 8))
    label[0, :3] = 255
    ours = pixel_accuracy(logits, label, 255)
    ref = accuracy(logits, label, ignore_index=255)
    assert ours.shape == ref.shape == (1, )
    assert ours.item() == pytest.approx(ref.item(), rel=1e-6)
    # by hand: 3 pixels, 2 valid, 1 right
    logits = torch.tensor([[1., 0.], [0., 1.], [0., 1.]]).t().reshape(1, 2, 1, 3)
    label = torch.tensor([[[0, 0, 255]]])
    assert pixel_accuracy(logits, label, 255).item() == pytest.approx(50.0)
    # every pixel ignored: mmseg's eps / eps (100), not NaN
    ignored = torch.full_like(label, 255)
    assert pixel_accuracy(logits, ignored).item() == pytest.approx(
        accuracy(logits, ignored, ignore_index=255).item())


def test_softmax_loss_equals_mmseg_head_loss():
    from mmseg.models.decode_heads.decode_head import BaseDecodeHead
    m = build_tiny([4, 2])
    head = m.decode_head
    torch.manual_seed(0)
    logits = torch.randn(2, 6, 4, 4, requires_grad=True)
    samples = []
    for _ in range(2):
        label = torch.randint(0, 6, (1, 16, 16))
        label[0, 0] = 255
        samples.append(SegDataSample(gt_sem_seg=PixelData(data=label)))
    ours = head.loss_by_feat(logits, samples)
    ref = BaseDecodeHead.loss_by_feat(head, logits, samples)
    assert set(ours) == set(ref) == {'loss_ce', 'acc_seg'}
    assert torch.equal(ours['loss_ce'], ref['loss_ce'])
    assert ours['acc_seg'].item() == pytest.approx(ref['acc_seg'].item(),
                                                   rel=1e-6)
