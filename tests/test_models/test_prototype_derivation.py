import pytest
import torch
import torch.nn.functional as F

from cisseg.models.utils import (FeatureStatistics, combine_prototypes,
                                 extraction_labels, lite_replay_plan,
                                 recognition_prototypes)


def test_recognition_recovers_class_means():
    # A linear classifier whose weight rows are the class means: the
    # feature each class recognises best points along its own mean.
    means = torch.tensor([[4., 0., 0., 1.], [0., 4., 1., 0.],
                          [1., 0., 4., 0.]])
    bias = torch.full((3, ), -8.0)
    protos = recognition_prototypes(means, bias, iters=400, lr=0.05)
    assert protos.shape == (3, 4)
    assert torch.allclose(protos.norm(dim=1), torch.ones(3), atol=1e-5)
    assert (protos >= 0).all()
    cos = protos @ F.normalize(means, dim=1).t()
    assert cos.argmax(dim=1).tolist() == [0, 1, 2]
    # the optimum leans toward the dimensions no other class uses
    assert cos.diag().min() > 0.8


def test_recognition_of_orthogonal_classifiers_is_exact():
    protos = recognition_prototypes(4 * torch.eye(3), torch.full((3, ), -6.),
                                    iters=300)
    assert torch.allclose(protos, torch.eye(3), atol=1e-3)


def test_extraction_labels_threshold_and_ignore():
    # 3 old train ids (bg + classes 1, 2): logits of classes 1 and 2
    logits = torch.tensor([[3.0, 0.5, -1.0, 3.0, 3.0],
                           [0.0, 0.2, -2.0, 0.0, 0.0]]).view(1, 2, 1, 5)
    label = torch.tensor([[[0, 0, 0, 255, 3]]])
    out = extraction_labels(logits, label, num_old=3, threshold=0.7)
    # cell 0: class 1 with sigmoid(3) = .95 -> 1
    # cell 1: class 1 with sigmoid(.5) = .62 < .7 -> 255
    # cell 2: background predicted -> 255 ; cell 3: label 255 -> 255
    # cell 4: labelled with new class 3, though the old model says 1 -> 255
    assert out.tolist() == [[[1, 255, 255, 255, 255]]]
    low = extraction_labels(logits, label, num_old=3, threshold=0.6)
    assert low.tolist() == [[[1, 1, 255, 255, 255]]]


def test_extraction_statistics_skip_excluded_cells():
    feats = torch.tensor([[1., 0.], [0., 1.], [5., 5.]]).t().reshape(
        1, 2, 1, 3)
    lab = torch.tensor([[[1, 1, 255]]])
    stats = FeatureStatistics(2, 2)
    stats.update(feats, lab)
    e = stats.finalize([1])[1]
    assert e['count'] == 2
    assert e['prototype'].tolist() == pytest.approx([2 ** -.5, 2 ** -.5])


def test_combine_rule():
    r = {1: torch.tensor([1., 0.]), 2: torch.tensor([0., 1.])}
    e = {1: torch.tensor([0., 1.])}
    out = combine_prototypes(r, e, extraction_weight=0.5)
    assert out[1].tolist() == pytest.approx([2 ** -.5, 2 ** -.5])
    assert out[2].tolist() == [0., 1.]  # not found: recognition only
    out = combine_prototypes(r, e, extraction_weight=0.25)
    expected = F.normalize(torch.tensor([0.75, 0.25]), dim=0)
    assert out[1].tolist() == pytest.approx(expected.tolist())
    with pytest.raises(ValueError, match='extraction_weight'):
        combine_prototypes(r, e, 1.5)


def test_lite_replay_plan_by_hand():
    # 10 iterations, 400 new-class cells -> 40 per iteration per class
    per_iter, r = lite_replay_plan(
        new_cells=400, pred_counts={0: 600., 1: 100., 2: 900.},
        old_classes=[1, 2], bg_cells=800, valid_cells=1000,
        total_cells=1000, iters=10, setting='overlap',
        pred_bg_in_label_bg=600.)
    assert per_iter == {1: 30, 2: 0}   # 40 - 100/10 ; 40 - 90 < 0
    b, big_b, m = 0.8, 600., 300.
    assert r == pytest.approx((b * (1000 + m) - big_b) / (big_b * (1 - b)))
    per_iter, _ = lite_replay_plan(400, {1: 100.}, [1, 2], 800, 1000, 1000,
                                   10, 'disjoint', 600.)
    assert per_iter == {1: 40, 2: 40}
