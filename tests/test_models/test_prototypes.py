import pytest
import torch

from cisseg.engine.hooks.prototype_replay_hook import replay_plan
from cisseg.models.utils import (FeatureStatistics, PrototypeBank, grid_labels,
                                 masked_bincount)


def test_grid_labels_take_cell_centres():
    label = torch.arange(16).view(1, 4, 4)
    assert grid_labels(label, (2, 2)).tolist() == [[[5, 7], [13, 15]]]
    assert grid_labels(label, (4, 4)).tolist() == label.tolist()


def test_statistics_by_hand():
    feat = torch.zeros(1, 2, 2, 2)
    feat[0, :, 0, 0] = torch.tensor([3., 4.])   # class 1, |f| = 5
    feat[0, :, 0, 1] = torch.tensor([0., 2.])   # class 1, |f| = 2
    feat[0, :, 1, 0] = torch.tensor([9., 9.])   # 255: skipped
    feat[0, :, 1, 1] = torch.tensor([1., 0.])   # class 2
    label = torch.tensor([[[1, 1], [255, 2]]])
    stats = FeatureStatistics(3, 2)
    stats.update(feat, label)
    out = stats.finalize([0, 1, 2])
    assert 0 not in out  # absent class: no entry
    e = out[1]
    assert e['count'] == 2
    p = torch.tensor([0.6, 1.8]) / torch.tensor([0.6, 1.8]).norm()
    assert e['prototype'].tolist() == pytest.approx(p.tolist(), abs=1e-6)
    units = torch.tensor([[0.6, 0.8], [0.0, 1.0]])
    noise = ((units - p) ** 2).mean(0).sqrt()
    assert e['noise'].tolist() == pytest.approx(noise.tolist(), abs=1e-6)
    assert e['norm_mean'] == pytest.approx(3.5)
    assert e['norm_std'] == pytest.approx(4.5 ** 0.5)
    assert out[2]['count'] == 1 and out[2]['norm_std'] == 0


def test_statistics_noise_about_a_given_centre():
    feat = torch.zeros(1, 2, 1, 2)
    feat[0, :, 0, 0] = torch.tensor([3., 4.])
    feat[0, :, 0, 1] = torch.tensor([0., 2.])
    stats = FeatureStatistics(2, 2)
    stats.update(feat, torch.tensor([[[1, 1]]]))
    q = torch.tensor([0.0, -1.0])
    e = stats.finalize([1], noise_centres={1: q})[1]
    units = torch.tensor([[0.6, 0.8], [0.0, 1.0]])
    # RMS about q: ((0.36 + 0) / 2, (3.24 + 4) / 2)
    assert e['noise'].tolist() == pytest.approx(
        ((units - q) ** 2).mean(0).sqrt().tolist(), abs=1e-6)
    assert e['noise'][1].item() == pytest.approx(3.62 ** 0.5, abs=1e-6)
    # the prototype itself does not move
    assert e['prototype'].tolist() == pytest.approx(
        stats.finalize([1])[1]['prototype'].tolist())


def test_masked_bincount_equals_bincount_of_the_selection():
    ids = torch.tensor([[0, 2, 2, 255], [1, 2, -1, 3]])
    mask = torch.tensor([[True, True, False, True], [True, True, True, True]])
    # ids[mask] in [0, 3): 0, 2, 1, 2 (255, -1 and 3 dropped)
    assert masked_bincount(ids, 3, mask).tolist() == [1.0, 1.0, 2.0]
    assert masked_bincount(ids, 3).tolist() == [1.0, 1.0, 3.0]
    # uint8 ids (label maps) with a spare bin past 255
    assert masked_bincount(torch.tensor([0, 255, 3], dtype=torch.uint8),
                           256)[[0, 3, 255]].tolist() == [1.0, 1.0, 1.0]
    counts = masked_bincount(ids, 4, dtype=torch.long)
    assert counts.dtype == torch.long and counts.tolist() == [1, 1, 3, 1]
    torch.manual_seed(0)
    ids = torch.randint(-2, 30, (4, 16, 16))
    mask = torch.rand(4, 16, 16) < 0.5
    sel = ids[mask & (ids >= 0) & (ids < 25)]
    assert torch.equal(masked_bincount(ids, 25, mask),
                       torch.bincount(sel, minlength=25).double())


def test_statistics_skip_ignored_cells_exactly():
    # skipped cells go in with weight 0: every sum bit for bit as if the
    # cells had been removed
    torch.manual_seed(0)
    feat = torch.randn(2, 4, 3, 3)
    label = torch.randint(0, 3, (2, 3, 3))
    label[0, 1, :] = 255
    label[1, 0, 0] = 7
    with_skips = FeatureStatistics(3, 4)
    with_skips.update(feat, label)
    keep = (label < 3).flatten()
    kept = FeatureStatistics(3, 4)
    kept.update(feat.permute(0, 2, 3, 1).reshape(-1, 4)[keep].t()
                .reshape(1, 4, 1, -1), label.flatten()[keep].reshape(1, 1, -1))
    for name in ('count', 'sum', 'sq_sum', 'norm_sum', 'norm_sq_sum'):
        assert torch.equal(getattr(with_skips, name), getattr(kept, name))
    assert with_skips.count.sum() == keep.sum()


def test_statistics_add_up_over_batches():
    torch.manual_seed(0)
    feat = torch.randn(4, 3, 2, 2)
    label = torch.randint(0, 3, (4, 2, 2))
    whole = FeatureStatistics(3, 3)
    whole.update(feat, label)
    parts = FeatureStatistics(3, 3)
    parts.update(feat[:2], label[:2])
    parts.update(feat[2:], label[2:])
    a, b = whole.finalize([0, 1, 2]), parts.finalize([0, 1, 2])
    for c in a:
        assert a[c]['prototype'].tolist() == pytest.approx(
            b[c]['prototype'].tolist(), abs=1e-6)
        assert a[c]['count'] == b[c]['count']


def test_replay_plan_overlap_and_disjoint():
    counts = {1: 1000.0, 2: 50.0}
    pred = {0: 400.0, 1: 200.0, 2: 80.0}
    per_iter, ratio = replay_plan(counts, 2000.0, pred, 10, 'overlap', 1)
    assert per_iter == {1: 80, 2: 0}  # (1000-200)/10; 50-80 < 0 -> 0
    assert ratio == pytest.approx(2000 * 0.99 / 400 - 0.5)
    per_iter, ratio = replay_plan(counts, 2000.0, pred, 10, 'disjoint', 1)
    assert per_iter == {1: 100, 2: 5}
    assert ratio == pytest.approx(5.0)
    _, ratio = replay_plan(counts, 100.0, pred, 10, 'overlap', 5)
    assert ratio == 0.0  # clamped


def test_bank_sampling_noise_and_norms():
    # (p + eps * noise) * r: dimension 0 ~ (1 + 0.5 eps) * 2 -> mean 2,
    # std 1; dimension 1 has no prototype and no noise -> exactly 0;
    # r ~ N(3, 0.1) for class 5 scales its whole vector.
    bank = PrototypeBank({
        2: dict(prototype=torch.tensor([1.0, 0.0]),
                noise=torch.tensor([0.5, 0.0]), norm_mean=2.0, norm_std=0.0,
                count=1.0),
        5: dict(prototype=torch.tensor([0.0, 1.0]), noise=torch.zeros(2),
                norm_mean=3.0, norm_std=0.1, count=1.0)})
    gen = torch.Generator().manual_seed(0)
    feats, labels = bank.sample({2: 20000, 5: 20000}, generator=gen)
    a, b = feats[labels == 2], feats[labels == 5]
    assert a[:, 0].mean().item() == pytest.approx(2.0, abs=0.03)
    assert a[:, 0].std().item() == pytest.approx(1.0, abs=0.03)
    assert torch.equal(a[:, 1], torch.zeros(20000))
    assert torch.equal(b[:, 0], torch.zeros(20000))
    assert b[:, 1].mean().item() == pytest.approx(3.0, abs=0.01)
    assert b[:, 1].std().item() == pytest.approx(0.1, abs=0.01)
    again, _ = bank.sample({2: 20000, 5: 20000},
                           generator=torch.Generator().manual_seed(0))
    assert torch.equal(feats, again)


def test_bank_norm_drawn_per_feature_or_per_element():
    # prototype (0.6, 0.8), no noise: one norm per feature keeps every
    # vector on the prototype's direction; one norm per element (the STAR
    # code's draw) scales the two elements apart, each N(0.6 r, ...)
    bank = PrototypeBank({1: dict(prototype=torch.tensor([0.6, 0.8]),
                                  noise=torch.zeros(2), norm_mean=5.0,
                                  norm_std=1.0, count=1.0)})
    gen = torch.Generator().manual_seed(0)
    vec, _ = bank.sample({1: 20000}, generator=gen)
    assert torch.allclose(vec[:, 0] / vec[:, 1],
                          torch.full((20000, ), 0.75))
    el, _ = bank.sample({1: 20000}, generator=gen, norm_draw='per_element')
    ratio = el[:, 0] / el[:, 1]
    assert ratio.std().item() > 0.1
    for i, p in enumerate((0.6, 0.8)):
        assert el[:, i].mean().item() == pytest.approx(5 * p, abs=0.03)
        assert el[:, i].std().item() == pytest.approx(p, abs=0.03)
    # the two draws are independent
    r = el / torch.tensor([0.6, 0.8])
    assert abs(torch.corrcoef(r.t())[0, 1].item()) < 0.03
    with pytest.raises(ValueError, match='norm_draw must be one of'):
        bank.sample({1: 2}, norm_draw='vector')


def test_bank_sampling_and_file_roundtrip(tmp_path):
    p = torch.tensor([1.0, 0.0])
    bank = PrototypeBank({3: dict(prototype=p, noise=torch.zeros(2),
                                  norm_mean=2.0, norm_std=0.0, count=7.0)},
                         bg_count=11.0, meta=dict(step=0))
    feats, labels = bank.sample({3: 4})
    assert feats.shape == (4, 2) and labels.tolist() == [3] * 4
    assert torch.allclose(feats, torch.tensor([[2.0, 0.0]] * 4))
    assert bank.sample({3: 0}) == (None, None)
    path = str(tmp_path / 'p.pth')
    bank.save(path)
    again = PrototypeBank.load(path)
    assert again.bg_count == 11.0 and again.counts() == {3: 7.0}
    assert again.meta == dict(step=0)


def test_bank_rejects_other_files(tmp_path):
    path = str(tmp_path / 'x.pth')
    torch.save({'weights': 1}, path)
    with pytest.raises(ValueError, match='not a cisseg prototype file'):
        PrototypeBank.load(path)
    # a truncated file (a copy cut short): one line naming it
    bank = PrototypeBank({}, bg_count=1.0, meta=dict(step=0))
    bank.save(path)
    with open(path, 'rb') as f:
        head = f.read(100)
    with open(path, 'wb') as f:
        f.write(head)
    with pytest.raises(ValueError, match=r'x\.pth: unreadable prototype file'
                       r', truncated or not a torch file'):
        PrototypeBank.load(path)
    with pytest.raises(FileNotFoundError, match=r'y\.pth: prototype file not'):
        PrototypeBank.load(str(tmp_path / 'y.pth'))
