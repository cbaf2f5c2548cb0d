"""PLOP's entropy-based pseudo-labels of background pixels."""
import math
from typing import Tuple

import torch
from mmengine.dist import all_reduce, is_distributed
from torch import Tensor

from .feature_statistics import masked_bincount


def normalized_entropy(probs: Tensor) -> Tensor:
    """Entropy of (N, C, H, W) class probabilities divided by log(C):
    (N, H, W) values in [0, 1] (0: one-hot, 1: uniform)."""
    c = probs.shape[1]
    ent = -torch.xlogy(probs, probs).sum(dim=1)
    return ent / math.log(c) if c > 1 else torch.zeros_like(ent)


def median_thresholds(hist: Tensor, min_threshold: float = 0.001) -> Tensor:
    """Per-class median of values in [0, 1] from their histograms.

    The median is interpolated linearly inside the bin where the
    cumulative count reaches half of the class's count; a class without
    values gets 0. Every threshold is at least ``min_threshold`` (PLOP:
    0.001).

    Args:
        hist (Tensor): (C, B) counts of each class in B equal bins of
            [0, 1].
        min_threshold (float): lower bound of the thresholds.

    Returns:
        Tensor: (C, ) float thresholds.
    """
    hist = hist.double()
    num_bins = hist.shape[1]
    total = hist.sum(dim=1)
    half = total / 2
    cum = hist.cumsum(dim=1)
    k = (cum < half[:, None]).sum(dim=1).clamp(max=num_bins - 1)
    before = torch.where(
        k > 0, cum.gather(1, (k - 1).clamp(min=0)[:, None])[:, 0],
        torch.zeros_like(half))
    in_bin = hist.gather(1, k[:, None])[:, 0].clamp(min=1)
    median = (k + (half - before) / in_bin) / num_bins
    median = torch.where(total > 0, median, torch.zeros_like(median))
    return median.clamp(min=min_threshold).float()


def entropy_pseudo_labels(label: Tensor, old_pred: Tensor,
                          old_entropy: Tensor, thresholds: Tensor,
                          num_old: int,
                          ignore_index: int = 255) -> Tuple[Tensor, Tensor]:
    """PLOP's training targets at a step t > 0.

    Pixels labelled background (train id < ``num_old``: background, or an
    old class relabelled as background) take the old model's class where
    its normalised entropy is below that class's threshold, else
    ``ignore_index``; the step's labels are kept elsewhere.

    Args:
        label (Tensor): (N, H, W) train ids of the step.
        old_pred (Tensor): (N, H, W) the old model's arg-max train ids.
        old_entropy (Tensor): (N, H, W) its normalised entropy.
        thresholds (Tensor): (num_old, ) per-class thresholds.
        num_old (int): train ids seen before this step (background incl.).
        ignore_index (int): label of ignored pixels.

    Returns:
        tuple[Tensor]: the targets (N, H, W) and, per image, the share of
        its background pixels that got a pseudo-label (N, ), PLOP's
        adaptive factor of the classification loss (0 without background
        pixels, as PLOP computes it).
    """
    bg = label < num_old
    confident = old_entropy < thresholds.to(old_entropy.device)[old_pred]
    pseudo = torch.where(confident, old_pred,
                         torch.full_like(old_pred, ignore_index))
    target = torch.where(bg, pseudo.to(label.dtype), label)
    kept = (bg & confident).flatten(1).sum(dim=1).float()
    factor = kept / (bg.flatten(1).sum(dim=1).float() + 1e-6)
    return target, factor


class EntropyHistogram:
    """Counts of the old model's normalised entropy per predicted class,
    over background-labelled pixels; sums reduce across ranks.

    Args:
        num_classes (int): classes of the old model (background incl.).
        num_bins (int): equal bins of [0, 1].
    """

    def __init__(self, num_classes: int, num_bins: int = 100,
                 device='cpu') -> None:
        if num_bins < 1:
            raise ValueError(f'num_bins must be >= 1, got {num_bins}')
        self.num_bins = num_bins
        self.counts = torch.zeros(num_classes, num_bins, dtype=torch.long,
                                  device=device)

    @torch.no_grad()
    def update(self, entropy: Tensor, pred: Tensor, mask: Tensor) -> None:
        """Add the pixels of ``mask`` ((N, H, W) bool) with their entropy
        and predicted class."""
        c, b = self.counts.shape
        bins = (entropy * b).long().clamp(0, b - 1)
        idx = pred.long() * b + bins
        self.counts += masked_bincount(
            idx.to(self.counts.device), c * b, mask.to(self.counts.device),
            dtype=self.counts.dtype).view(c, b)

    def all_reduce(self) -> None:
        if is_distributed():
            all_reduce(self.counts, op='sum')

    def thresholds(self, min_threshold: float = 0.001) -> Tensor:
        return median_thresholds(self.counts, min_threshold)
