import math

import pytest
import torch
import torch.nn.functional as F

from cisseg.engine.hooks.prototype_replay_hook import (replay_plan,
                                                       updated_counts)
from cisseg.models.utils import (FeatureStatistics, PrototypeBank,
                                 combine_prototypes, extraction_labels,
                                 lite_replay_plan, nearest_prototype_distance,
                                 recognition_prototypes)


def test_recognition_of_orthogonal_classifiers_is_exact():
    # Row c of the objective only involves x_c: class c reads channel c
    # only, so x_c's other channels only raise other logits (pushed below 0,
    # clamped) and channel c grows without bound: the unit optimum is e_c.
    # Without the clamp at 0 the other channels would go negative.
    protos = recognition_prototypes(4 * torch.eye(3), torch.full((3, ), -6.),
                                    iters=300, lr=0.05)
    assert torch.allclose(protos, torch.eye(3), atol=1e-3)


def test_recognition_finite_optimum_with_a_shared_channel():
    # logits l0 = 2u + v, l1 = u + 2v for x = (u, v) >= 0. Row 0 (target
    # (1, 0)): d/dv = -s(-l0) + 2 s(l1) > 0 as s(l1) >= 1/2, so v = 0; then
    # d/du = -2 s(-2u) + s(u) = 0 at e^u = t, t^3 - t - 2 = 0 (u = 0.4197):
    # a finite optimum, direction e_0 (not the classifier's own (2, 1)).
    # Row 1 by symmetry.
    weight = torch.tensor([[2., 1.], [1., 2.]])
    protos = recognition_prototypes(weight, torch.zeros(2), iters=1000,
                                    lr=0.05)
    assert torch.allclose(protos, torch.eye(2), atol=1e-4)


def test_authors_optimiser_is_the_unannealed_setting():
    # anneal=False is the authors' loop: AdamW from zeros, clamp at 0 after
    # each step, keep the X stepped from the lowest loss (written out here;
    # on this decreasing loss, the last X, as the lowest-loss X is)
    gen = torch.Generator().manual_seed(0)
    weight, bias = torch.randn(4, 6, generator=gen), torch.randn(4,
                                                                 generator=gen)
    x = torch.zeros(4, 6, requires_grad=True)
    opt = torch.optim.AdamW([x], lr=1e-3, weight_decay=0.01)
    best, best_loss = None, math.inf
    for _ in range(300):
        loss = F.binary_cross_entropy_with_logits(x @ weight.t() + bias,
                                                  torch.eye(4))
        opt.zero_grad()
        loss.backward()
        opt.step()
        with torch.no_grad():
            x.clamp_(min=0)
        if loss.item() < best_loss:
            best, best_loss = x.detach().clone(), loss.item()
    protos = recognition_prototypes(weight, bias, iters=300, lr=1e-3,
                                    anneal=False)
    assert torch.allclose(protos, F.normalize(best, dim=1), atol=1e-5)


def test_extraction_rules_by_hand():
    # 3 old train ids (bg + classes 1, 2): logits of classes 1 and 2 at 6
    # cells; the old model predicts c where c's logit is the largest and
    # > 0.5 (the authors' training rule).
    logits = torch.tensor([[3.0, 0.7, -1.0, 3.0, 3.0, 0.2],
                           [0.0, 0.2, -2.0, 0.0, 0.0, 2.0]]).view(1, 2, 1, 6)
    label = torch.tensor([[[0, 0, 0, 255, 3, 0]]])
    # predictions: 1, 1, bg, 1, 1, 2
    out = extraction_labels(logits, label, num_old=3, rule='predicted')
    assert out.tolist() == [[[1, 1, 255, 1, 1, 2]]]
    out = extraction_labels(logits, label, num_old=3, rule='filtered',
                            threshold=0.7)
    # cell 1: sigmoid(.7) = .67 < .7; cell 3: label 255; cell 4: labelled
    # with the new class 3
    assert out.tolist() == [[[1, 255, 255, 255, 255, 2]]]
    low = extraction_labels(logits, label, num_old=3, rule='filtered',
                            threshold=0.6)
    assert low.tolist() == [[[1, 1, 255, 255, 255, 2]]]
    with pytest.raises(ValueError, match='extraction rule'):
        extraction_labels(logits, label, 3, rule='labelled')


def test_extraction_averages_under_both_rules():
    # features of the 6 cells above; the extraction prototype is the unit
    # mean of the unit features of a class's cells
    feats = torch.tensor([[1., 0.], [0., 2.], [9., 9.], [3., 3.], [0., 5.],
                          [4., 0.]]).t().reshape(1, 2, 1, 6)
    logits = torch.tensor([[3.0, 0.7, -1.0, 3.0, 3.0, 0.2],
                           [0.0, 0.2, -2.0, 0.0, 0.0, 2.0]]).view(1, 2, 1, 6)
    label = torch.tensor([[[0, 0, 0, 255, 3, 0]]])
    s = 2 ** -.5
    expected = {
        # cells 0, 1, 3, 4: (1, 0) + (0, 1) + (s, s) + (0, 1)
        'predicted': F.normalize(torch.tensor([1 + s, 2 + s]), dim=0),
        'filtered': torch.tensor([1., 0.]),  # cell 0 only
    }
    for rule, proto in expected.items():
        stats = FeatureStatistics(3, 2)
        stats.update(feats, extraction_labels(logits, label, 3, rule))
        e = stats.finalize([1, 2])
        assert e[1]['prototype'].tolist() == pytest.approx(proto.tolist())
        assert e[2]['prototype'].tolist() == pytest.approx([1., 0.])
        assert e[1]['count'] == (4 if rule == 'predicted' else 1)


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


def test_dist_noise_scale_by_hand():
    p = torch.tensor([[1., 0., 0.], [0., 1., 0.], [0.6, 0.8, 0.]])
    # |p0 - p1| = sqrt 2, |p0 - p2| = sqrt(.16 + .64), |p1 - p2| =
    # sqrt(.36 + .04)
    d02, d12 = math.sqrt(0.8), math.sqrt(0.4)
    d = nearest_prototype_distance(p)
    assert d.tolist() == pytest.approx([d02, d12, d12])
    assert nearest_prototype_distance(p[:1]).tolist() == [0.0]


def test_dist_entries_share_the_mean_distance():
    # the authors' trainer replaces each class's distance by their mean
    from cisseg.engine.hooks import PrototypeDerivationHook
    hook = PrototypeDerivationHook(1, dict(steps=[[0, 1, 2, 3], [4]]))
    p = torch.tensor([[1., 0., 0.], [0., 1., 0.], [0.6, 0.8, 0.]])
    entries = hook._entries({c: p[c - 1] for c in (1, 2, 3)},
                            {2: dict(count=7.0)})
    mean = (math.sqrt(0.8) + 2 * math.sqrt(0.4)) / 3
    assert [entries[c]['dist'] for c in (1, 2, 3)] == pytest.approx(
        [mean] * 3)
    assert [entries[c]['count'] for c in (1, 2, 3)] == [0.0, 7.0, 0.0]
    assert 'noise' not in entries[1]


def test_dist_sampling_lies_at_the_drawn_chord_distance():
    p = F.normalize(torch.tensor([1., 2., 0., 2.]), dim=0)
    bank = PrototypeBank({3: dict(prototype=p, dist=0.3, count=0.0)})
    gen = torch.Generator().manual_seed(0)
    feats, labels = bank.sample({3: 500}, generator=gen,
                                scale=torch.tensor(7.0))
    assert labels.tolist() == [3] * 500
    assert torch.allclose(feats.norm(dim=1), torch.full((500, ), 7.0))
    # the sampler's first draw is the distance's |N(0, 1)|
    z = torch.randn(500, generator=torch.Generator().manual_seed(0))
    chord = (feats / 7.0 - p).norm(dim=1)
    assert torch.allclose(chord, (z.abs() * 0.3).clamp(max=1.999),
                          atol=1e-5)
    with pytest.raises(ValueError, match='needs scale'):
        bank.sample({3: 2})


def test_replay_rules_by_hand():
    counts, pred = {1: 1000.0, 2: 50.0}, {0: 500.0, 1: 200.0, 2: 100.0}
    # NeurIPS overlapped: (n - pred) / iters, eta (1 - .01 * 2) / pred0 - .5
    per_iter, r = replay_plan(counts, 2000.0, pred, 10, 'overlap', 2,
                              'neurips')
    assert per_iter == {1: 80, 2: 0} and r == pytest.approx(3.42)
    # TPAMI: n / iters and eta / pred0 in both settings
    for setting in ('overlap', 'disjoint'):
        per_iter, r = replay_plan(counts, 2000.0, pred, 10, setting, 2,
                                  'tpami')
        assert per_iter == {1: 100, 2: 5} and r == pytest.approx(4.0)
    assert updated_counts(counts, 2000.0, pred, 'overlap', 2, 'tpami') == \
        (counts, 2500.0)
    assert updated_counts(counts, 2000.0, pred, 'overlap', 2,
                          'neurips') == (counts, 2000.0 * .98 + 250.0)
    assert updated_counts(counts, 2000.0, pred, 'disjoint', 2,
                          'neurips') == ({1: 1200.0, 2: 150.0}, 2500.0)
    with pytest.raises(ValueError, match='replay_rule'):
        replay_plan(counts, 1.0, pred, 1, 'overlap', 1, 'iccv')


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


def test_counts_file_reload_and_checks(tmp_path):
    import json
    import os
    from cisseg.engine.hooks import PrototypeDerivationHook
    proto = dict(steps=[[0, 1, 2], [3]], setting='overlap')
    hook = PrototypeDerivationHook(1, proto, str(tmp_path))
    os.makedirs(tmp_path / 'step_0')
    (tmp_path / 'step_0' / 'counts.json').write_text(json.dumps(dict(
        step=0, protocol=proto, bg_count=70.0,
        counts={'1': 12.0, '2': 3.0})))
    assert hook.load_counts(0) == dict(counts={1: 12.0, 2: 3.0},
                                       bg_count=70.0)
    with pytest.raises(FileNotFoundError, match=r"step_1.*counts='stored'"):
        hook.load_counts(1)
    other = PrototypeDerivationHook(1, dict(proto, steps=[[0, 1], [2]]),
                                    str(tmp_path))
    with pytest.raises(ValueError, match='counts.json: counts of step 0 of '
                       r'protocol \[\[0, 1, 2\], \[3\]\]'):
        other.load_counts(0)
    with pytest.raises(ValueError, match='noise must be one of'):
        PrototypeDerivationHook(1, proto, noise='angle')
