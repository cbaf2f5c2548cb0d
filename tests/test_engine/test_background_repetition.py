"""STAR's background pixel repetition (BPR) and the η_bg bookkeeping,
worked out by hand on tiny inputs."""
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F

from cisseg.engine.hooks import PrototypeReplayHook
from cisseg.models.utils import FeatureStatistics, PrototypeBank
from tests.test_models._tiny import build_tiny
from tests.test_models.test_segmentors import _samples, _with_old

STEPS = [list(range(16)), [16]]


def test_bpr_term_by_hand():
    """32x32 images, a 4x4 feature grid (cell centres at rows/columns 4,
    12, 20, 28). Label: new class 16 in rows 0-7, background below; the old
    model predicts old class 3 in rows 16-31. Background for both: grid
    row 1 only, 4 cells per image, K = 8 of S = 32 cells. With r = 1.5 the
    BCE becomes (L + w mean softplus(z_bg)) / (1 + w), w = r K / S = 0.375,
    z_bg the new logit at those cells (the zero-target BCE of the K cells,
    averaged as the other BCE terms)."""
    torch.manual_seed(0)
    new, _ = _with_old('STARSegmentor', 'sigmoid', ocfm_loss=None,
                       sad_loss=None, prototype_replay=False)
    new.eval()  # no dropout: the same forward in every call
    label = torch.zeros(2, 32, 32, dtype=torch.long)
    label[:, :8] = 16
    old_pred = torch.zeros(2, 32, 32, dtype=torch.long)
    old_pred[:, 16:] = 3
    new.old_full_prediction = lambda logits, size: old_pred
    x = torch.randn(2, 3, 32, 32)

    new.bg_ratio = 0.0
    plain = new.loss(x, _samples(label))['loss_bce']
    new.bg_ratio = 1.5
    with_bpr = new.loss(x, _samples(label))['loss_bce']

    with torch.no_grad():
        _, logits = new.decode_features(x)
    assert logits.shape[2:] == (4, 4)
    z_bg = logits[:, -1, 1, :]  # grid row 1, every column, both images
    w = 1.5 * 8 / 32
    expected = (plain + w * F.softplus(z_bg).mean()) / (1 + w)
    assert with_bpr.item() == pytest.approx(expected.item(), rel=1e-5)
    assert with_bpr.item() != pytest.approx(plain.item(), rel=1e-3)


def _hook_after_train(tmp_path, step, setting, prev_bank=None,
                      pred_counts=None, **hook_args):
    """Run PrototypeReplayHook.after_train on a tiny segmentor whose last
    epoch's statistics are given by hand: 2 cells of new class c (features
    (3, 4) and (0, 2)) and 5 label-background cells."""
    classes = STEPS[:step + 1]
    per_step = [len(s) for s in classes]
    model = build_tiny(per_step, seg_type='STARSegmentor',
                       formulation='sigmoid')
    c = sum(per_step) - 1  # the step's (last) new class
    stats = FeatureStatistics(sum(per_step), 2)
    feat = torch.zeros(1, 2, 1, 7)
    feat[0, :, 0, 0] = torch.tensor([3., 4.])
    feat[0, :, 0, 1] = torch.tensor([0., 2.])
    label = torch.tensor([[[c, c, 0, 0, 0, 0, 0]]])
    stats.update(feat, label)
    model.feature_stats = stats
    hook = PrototypeReplayHook(
        step=step, protocol=dict(dataset='voc', task='15-1', setting=setting,
                                 steps=STEPS),
        work_dir=str(tmp_path), **hook_args)
    hook._window_start = 0  # statistics of the last epoch: given above
    hook.prev_bank = prev_bank
    hook.pred_counts = pred_counts or {}
    hook.after_train(SimpleNamespace(model=model))
    return PrototypeBank.load(hook.file(step)), c


def test_eta_bg_by_hand(tmp_path):
    # step 0: η_bg is the number of label-background cells (5); class 15
    # gets its count (2) and unit prototype mean((0.6, 0.8), (0, 1))
    bank0, c = _hook_after_train(tmp_path / 'a', 0, 'overlap')
    assert c == 15 and bank0.bg_count == 5.0
    assert bank0.class_ids == [15] and bank0.counts() == {15: 2.0}
    p = torch.tensor([0.3, 0.9]) / torch.tensor([0.3, 0.9]).norm()
    assert bank0.classes[15]['prototype'].tolist() == pytest.approx(
        p.tolist(), abs=1e-6)

    # step 1 from η_bg = 1000 and class 3 with 40 cells; the old model
    # predicted 200 background cells and 30 cells of class 3 inside this
    # step's label background
    prev = PrototypeBank({3: dict(bank0.classes[15], count=40.0)},
                         bg_count=1000.0, meta=dict(step=0))
    pred = {0: 200.0, 3: 30.0}
    # overlapped: η_bg (1 - 0.01 |new|) + 0.5 pred_0 = 990 + 100
    bank, c = _hook_after_train(tmp_path / 'b', 1, 'overlap', prev, pred)
    assert c == 16 and bank.bg_count == pytest.approx(1090.0)
    assert bank.counts() == {3: 40.0, 16: 2.0}
    # disjoint: η_bg + pred_0 = 1200; n_3 + pred_3 = 70
    bank, _ = _hook_after_train(tmp_path / 'c', 1, 'disjoint', prev, pred)
    assert bank.bg_count == pytest.approx(1200.0)
    assert bank.counts() == {3: 70.0, 16: 2.0}
    assert bank.meta['step'] == 1


def test_star_bce_void_as_negative():
    """STAR's own BCE at t > 0 follows the head's NewClassBCELoss: with
    void_as_negative the 255 pixels count as negatives of the new class
    (the authors' code), otherwise they are left out."""
    from cisseg.models.losses import new_class_bce
    from mmseg.models.utils import resize
    torch.manual_seed(0)
    new, _ = _with_old('STARSegmentor', 'sigmoid', ocfm_loss=None,
                       sad_loss=None, prototype_replay=False)
    new.eval()
    new.bg_ratio = 0.0
    label = torch.zeros(2, 32, 32, dtype=torch.long)
    label[:, :8] = 16
    label[:, 8:12] = 255
    new.old_full_prediction = lambda logits, size: torch.zeros_like(label)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        _, logits = new.decode_features(x)
    up = resize(logits[:, -1:], size=(32, 32), mode='bilinear',
                align_corners=False)
    pw = new.decode_head.loss_decode.pos_weight
    for void, ignore in ((False, 255), (True, None)):
        new.decode_head.loss_decode.void_as_negative = void
        got = new.loss(x, _samples(label))['loss_bce']
        want = new_class_bce(up, label, 16, ignore, pw).sum()
        assert got.item() == pytest.approx(want.item(), rel=1e-5)
    assert new_class_bce(up, label, 16, None, pw).item() != pytest.approx(
        new_class_bce(up, label, 16, 255, pw).item(), rel=1e-3)


def test_noise_about_the_authors_index(tmp_path):
    """noise_reference='authors_index': at step 1 the new class 16 (the
    first new class, position 0) is measured about entry 0 of the
    concatenated prototype list, old class 1's prototype (1, 0); 'own'
    about its own prototype. Its cells: units (0.6, 0.8) and (0, 1)."""
    e1 = dict(prototype=torch.tensor([1.0, 0.0]), noise=torch.zeros(2),
              norm_mean=1.0, norm_std=0.0, count=4.0)
    e3 = dict(e1, prototype=torch.tensor([0.0, 1.0]))
    prev = PrototypeBank({1: e1, 3: e3}, bg_count=100.0, meta=dict(step=0))
    units = torch.tensor([[0.6, 0.8], [0.0, 1.0]])
    authors, c = _hook_after_train(tmp_path / 'a', 1, 'overlap', prev,
                                   {0: 10.0},
                                   noise_reference='authors_index')
    own, _ = _hook_after_train(tmp_path / 'b', 1, 'overlap', prev, {0: 10.0})
    ref = torch.tensor([1.0, 0.0])
    want = ((units - ref) ** 2).mean(0).sqrt()
    assert authors.classes[c]['noise'].tolist() == pytest.approx(
        want.tolist(), abs=1e-6)
    p = own.classes[c]['prototype']
    assert torch.equal(authors.classes[c]['prototype'], p)
    want_own = ((units - p) ** 2).mean(0).sqrt()
    assert own.classes[c]['noise'].tolist() == pytest.approx(
        want_own.tolist(), abs=1e-6)
    # the old entries are the previous bank's, untouched
    assert torch.equal(authors.classes[1]['noise'], torch.zeros(2))
    # STAR-TPAMI's 'dist' model: one scalar, the RMS distance to the same
    # reference: sqrt(((0.4^2 + 0.8^2) + (1 + 1)) / 2) = sqrt(1.4)
    dist, _ = _hook_after_train(tmp_path / 'c', 1, 'overlap', prev,
                                {0: 10.0}, noise_reference='authors_index',
                                noise='dist')
    e = dist.classes[c]
    assert set(e) == {'prototype', 'dist', 'count'}
    assert e['dist'] == pytest.approx(1.4 ** 0.5, abs=1e-6)
    assert torch.equal(e['prototype'], p) and e['count'] == 2.0
    with pytest.raises(ValueError, match='noise_reference must be one of'):
        PrototypeReplayHook(noise_reference='index')
    with pytest.raises(ValueError, match='noise must be one of'):
        PrototypeReplayHook(noise='angle')


def test_authors_noise_centres_table():
    """New class c gets the prototype of train id c - first_new + 1."""
    from cisseg.engine.hooks.prototype_replay_hook import \
        authors_noise_centres

    def e(v):
        return dict(prototype=torch.tensor([float(v)]))

    prev = PrototypeBank({1: e(1), 2: e(2), 3: e(3), 4: e(4)})
    got = authors_noise_centres(prev, 5, {5: e(5), 6: e(6)})
    assert {c: v.item() for c, v in got.items()} == {5: 1.0, 6: 2.0}
    # more new classes than old ones: the list runs into the new classes
    prev = PrototypeBank({1: e(1)})
    got = authors_noise_centres(prev, 2, {2: e(20), 3: e(30), 4: e(40)})
    assert {c: v.item() for c, v in got.items()} == \
        {2: 1.0, 3: 20.0, 4: 30.0}
    # an old class without a prototype: a zero vector, as their list holds
    prev = PrototypeBank({2: e(2)})
    got = authors_noise_centres(prev, 3, {3: e(30)})
    assert got[3].item() == 0.0
