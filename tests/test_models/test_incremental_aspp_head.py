import pytest
import torch

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
