"""PLOP: Local POD and the entropy pseudo-labels by hand, the segmentor at
step 1 and the threshold hook."""
import math

import pytest
import torch

from cisseg.models.losses import (LocalPODLoss, fold_new_classes, local_pod,
                                  pod_distance)
from cisseg.models.utils import (EntropyHistogram, entropy_pseudo_labels,
                                 median_thresholds, normalized_entropy)
from mmseg.registry import MODELS
from tests.test_models._tiny import tiny_model_cfg
from tests.test_models.test_segmentors import _samples


# ------------------------------------------------------------------- POD
def test_local_pod_of_a_2x2_map():
    x = torch.tensor([[1., 2.], [3., 4.]]).view(1, 1, 2, 2)
    emb = local_pod(x, scales=(1, 2))
    # scale 1: row means 1.5, 3.5 and column means 2, 3; scale 2: four 1x1
    # regions, each pooled both ways
    assert sorted(emb.flatten().tolist()) == sorted(
        [1.5, 3.5, 2., 3.] + [1., 2., 3., 4.] * 2)


def test_pod_distance_of_squares_by_hand():
    a = torch.tensor([[1., 2.], [3., 4.]]).view(1, 1, 2, 2)
    b = torch.ones(1, 1, 2, 2)
    # a^2 = [[1, 4], [9, 16]]: rows 2.5, 12.5, columns 5, 10, cells 1, 4,
    # 9, 16 (twice); b^2 gives 1 everywhere
    want = math.sqrt(1.5**2 + 11.5**2 + 4**2 + 9**2 +
                     2 * (0 + 3**2 + 8**2 + 15**2))
    assert pod_distance(a, b, (1, 2)).item() == pytest.approx(want)
    # averaged over the batch: a second image equal to its old one adds 0
    a2, b2 = torch.cat([a, b]), torch.cat([b, b])
    assert pod_distance(a2, b2, (1, 2)).item() == pytest.approx(want / 2)


def test_fold_new_classes_into_background():
    logits = torch.tensor([1., 2., 3., 4., 5.]).view(1, 5, 1, 1)
    folded = fold_new_classes(logits, num_old=3)  # new classes: 3, 4
    assert folded.flatten().tolist() == [1. + 4. + 5., 2., 3.]


def test_local_pod_loss_weights_and_no_gradient_to_old_maps():
    torch.manual_seed(0)
    feats = [torch.randn(2, 3, 4, 4, requires_grad=True) for _ in range(2)]
    old_feats = [torch.randn(2, 3, 4, 4, requires_grad=True)
                 for _ in range(2)]
    logits = torch.randn(2, 4, 4, 4, requires_grad=True)
    old_logits = torch.randn(2, 3, 4, 4, requires_grad=True)
    loss = LocalPODLoss(loss_weight=0.01, logits_weight=0.0005)
    got = loss(feats, old_feats, logits, old_logits, weight=2.0)
    d = [pod_distance(f, o) for f, o in zip(feats, old_feats)]
    dl = pod_distance(fold_new_classes(logits, 3), old_logits)
    want = 2.0 * (0.01 * d[0] + 0.01 * d[1] + 0.0005 * dl) / 3
    assert got.item() == pytest.approx(want.item())
    got.backward()
    assert all(o.grad is None for o in old_feats + [old_logits])
    assert logits.grad.abs().sum() > 0
    same = loss(old_feats, old_feats)
    assert same.item() == 0


# ----------------------------------------------------------- pseudo-labels
def test_normalized_entropy():
    p = torch.tensor([[.25, .25, .25, .25], [1., 0., 0., 0.],
                      [.5, .5, 0., 0.]]).t().reshape(1, 4, 1, 3)
    assert normalized_entropy(p).flatten().tolist() == pytest.approx(
        [1., 0., 0.5])


def test_median_thresholds_on_a_hand_made_table():
    hist = torch.zeros(4, 10, dtype=torch.long)
    hist[0, :4] = 1      # 0.05, 0.15, 0.25, 0.35: median 0.2
    hist[2, 0] = 3       # three values in [0, 0.1): 0.05 (interpolated)
    hist[3, 9] = 2       # two values in [0.9, 1]: 0.95
    got = median_thresholds(hist, min_threshold=0.001)   # class 1: empty
    assert got.tolist() == pytest.approx([0.2, 0.001, 0.05, 0.95])
    assert median_thresholds(hist, min_threshold=0.1).tolist() == \
        pytest.approx([0.2, 0.1, 0.1, 0.95])


def test_entropy_histogram_counts_masked_pixels_per_predicted_class():
    entropy = torch.tensor([0.05, 0.15, 0.25, 0.35, 0.5, 0.05]).view(1, 1, 6)
    pred = torch.tensor([0, 0, 0, 0, 1, 2]).view(1, 1, 6)
    mask = torch.tensor([1, 1, 1, 1, 0, 1], dtype=torch.bool).view(1, 1, 6)
    hist = EntropyHistogram(3, num_bins=10)
    hist.update(entropy, pred, mask)
    assert hist.counts[0].tolist() == [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    assert hist.counts[1].sum() == 0  # its only pixel is masked out
    assert hist.thresholds().tolist() == pytest.approx([0.2, 0.001, 0.05])


def test_entropy_pseudo_labels_and_adaptive_factor():
    label = torch.tensor([[0, 0, 16, 255], [0, 0, 0, 0]]).view(2, 1, 4)
    pred = torch.tensor([[3, 5, 7, 0], [0, 0, 0, 0]]).view(2, 1, 4)
    entropy = torch.tensor([[.1, .5, 0., 0.], [.9, .1, .9, .9]]).view(
        2, 1, 4)
    thresholds = torch.full((16, ), 0.5)
    thresholds[3], thresholds[5], thresholds[0] = 0.2, 0.3, 0.4
    target, factor = entropy_pseudo_labels(label, pred, entropy, thresholds,
                                           num_old=16)
    # image 0: pixel 0 confident -> 3, pixel 1 not -> ignored, new class and
    # 255 kept; image 1: one background pixel of four is confident
    assert target.flatten().tolist() == [3, 255, 16, 255, 255, 0, 255, 255]
    assert factor.tolist() == pytest.approx([1 / 2, 1 / 4])


# --------------------------------------------------------------- segmentor
def _plop_pair(**kwargs):
    """Step-1 PLOP model and its old model, equal weights; POD reads the
    four backbone stages, the head the last one."""
    cfg = tiny_model_cfg([16, 1], seg_type='PLOPSegmentor', **kwargs)
    cfg['backbone']['out_indices'] = (0, 1, 2, 3)
    cfg['decode_head']['in_index'] = 3
    new = MODELS.build(cfg)
    old = new.build_old_model()
    old.load_state_dict(new.state_dict(), strict=False)
    new.set_old_model(old)
    return new, old


def _batch(n=2, size=32):
    x = torch.randn(n, 3, size, size)
    label = torch.zeros(n, size, size, dtype=torch.long)
    label[:, :8] = 16
    label[:, 28:] = 255
    return x, label


def test_plop_losses_and_no_gradient_into_the_old_model():
    new, old = _plop_pair()
    new.set_pseudo_thresholds(torch.full((16, ), 0.5))
    x, label = _batch()
    maps, logits = new.pod_maps(new, x)
    assert len(maps) == 5 and logits.shape[1] == 17  # 4 stages + head
    losses = new.loss(x, _samples(label))
    assert set(losses) == {'loss_ce', 'loss_pod'}
    sum(losses.values()).backward()
    assert all(p.grad is None for p in old.parameters())
    assert new.backbone.stem[0].weight.grad.abs().sum() > 0


def test_plop_needs_thresholds_at_step_1():
    new, _ = _plop_pair()
    x, label = _batch()
    with pytest.raises(RuntimeError, match='PseudoLabelThresholdHook'):
        new.loss(x, _samples(label))


def test_plop_pod_is_zero_when_nothing_changed():
    new, _ = _plop_pair()
    new.eval()
    with torch.no_grad():  # a new class with zero logits: folding is exact
        new.decode_head.conv_seg[1].weight.zero_()
        new.decode_head.conv_seg[1].bias.zero_()
    new.set_pseudo_thresholds(torch.full((16, ), 0.5))
    x, label = _batch()
    assert new.loss(x, _samples(label))['loss_pod'].item() == \
        pytest.approx(0, abs=1e-5)


def test_plop_cross_entropy_on_pseudo_labels_by_hand():
    new, _ = _plop_pair()
    new.eval()
    x, label = _batch()
    label[:, 8:28] = 0
    thresholds = torch.full((16, ), 0.5)
    new.set_pseudo_thresholds(thresholds)
    got = new.loss(x, _samples(label))['loss_ce']
    with torch.no_grad():
        maps, logits = new.pod_maps(new, x)
        _, old_logits = new.pod_maps(new.old_model, x)
        pred, ent = new.old_prediction_entropy(old_logits, label.shape[1:])
    target, factor = entropy_pseudo_labels(label, pred, ent, thresholds, 16)
    up = torch.nn.functional.interpolate(logits, size=label.shape[1:],
                                         mode='bilinear', align_corners=False)
    ce = torch.nn.functional.cross_entropy(up, target, ignore_index=255,
                                           reduction='none')
    # each image's CE scaled by its pseudo-labelled share, averaged over
    # every pixel (mmseg's and PLOP's mean)
    want = (ce * factor.view(-1, 1, 1)).mean()
    assert got.item() == pytest.approx(want.item(), rel=1e-5)
    # nothing confident: every background pixel ignored and factor 0
    new.set_pseudo_thresholds(torch.zeros(16))
    assert new.loss(x, _samples(label))['loss_ce'].item() == 0


def test_plop_threshold_hook_gives_per_class_medians():
    from types import SimpleNamespace

    from mmengine.dataset import pseudo_collate
    from mmseg.datasets.transforms import PackSegInputs
    from torch.utils.data import DataLoader

    from cisseg.engine.hooks import PseudoLabelThresholdHook
    torch.manual_seed(0)
    new, old = _plop_pair()
    rng = torch.Generator().manual_seed(0)
    pack = PackSegInputs()
    items = []
    for i in range(6):
        img = torch.randint(0, 256, (32, 32, 3), generator=rng).numpy()
        lab = torch.zeros(32, 32, dtype=torch.uint8)
        lab[: 4 * i] = 16
        items.append(pack(dict(
            img=img.astype('uint8'), gt_seg_map=lab.numpy(),
            img_shape=(32, 32), ori_shape=(32, 32), pad_shape=(32, 32),
            scale_factor=(1.0, 1.0), flip=False, flip_direction=None,
            reduce_zero_label=False)))
    loader = DataLoader(items, batch_size=4, collate_fn=pseudo_collate)
    runner = SimpleNamespace(model=new, train_dataloader=loader)
    PseudoLabelThresholdHook(num_bins=20000).before_train(runner)
    # exact medians of the old model's normalised entropy over the
    # background-labelled pixels, per predicted class
    values = {}
    with torch.no_grad():
        for batch in loader:
            data = new.data_preprocessor(batch, training=False)
            labels = torch.stack(
                [s.gt_sem_seg.data[0] for s in data['data_samples']])
            _, old_logits = old.decode_features(data['inputs'])
            pred, ent = new.old_prediction_entropy(old_logits,
                                                   labels.shape[1:])
            bg = labels == 0
            for c in pred[bg].unique().tolist():
                values.setdefault(c, []).append(ent[bg & (pred == c)])
    assert any(sum(t.numel() for t in v) >= 50 for v in values.values())
    got = new.pseudo_thresholds
    for c in range(16):
        if c not in values:
            assert got[c].item() == pytest.approx(0.001)
            continue
        v = torch.cat(values[c]).double()
        if v.numel() < 50:  # the median of a few values is not unique
            continue
        want = max(torch.quantile(v, 0.5).item(), 0.001)
        assert got[c].item() == pytest.approx(want, abs=2e-3)


def test_plop_needs_softmax_head():
    with pytest.raises(ValueError, match="formulation='softmax'"):
        MODELS.build(tiny_model_cfg([16], seg_type='PLOPSegmentor',
                                    formulation='sigmoid'))
