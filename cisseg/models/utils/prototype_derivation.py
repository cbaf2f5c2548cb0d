"""STAR-Lite: old-class prototypes derived without stored data."""
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor


def recognition_prototypes(weight: Tensor, bias: Tensor, iters: int = 1000,
                           lr: float = 0.05,
                           seed: int = 0) -> Tensor:
    """Recognition side: the feature each old classifier recognises best.

    Finds non-negative features X (one row per class, as features after the
    head's ReLU are) whose sigmoid logits ``X W^T + b`` match the identity
    (class c fires on row c only), by minimising that BCE with Adam and
    clamping X at 0 after every step; returns the unit rows of the X with
    the lowest loss.

    Args:
        weight (Tensor): (K, C) classifier weights of the K old classes.
        bias (Tensor): (K, ) classifier biases.
        iters (int): optimisation steps.
        lr (float): Adam learning rate.
        seed (int): seed of the (small, positive) initial X.

    Returns:
        Tensor: (K, C) unit prototypes.
    """
    weight, bias = weight.detach().float(), bias.detach().float()
    k, c = weight.shape
    gen = torch.Generator().manual_seed(seed)
    x = (torch.rand(k, c, generator=gen) * 0.01).to(weight.device)
    x.requires_grad_(True)
    target = torch.eye(k, device=weight.device)
    opt = torch.optim.Adam([x], lr=lr)
    best, best_loss = x.detach().clone(), float('inf')
    with torch.enable_grad():
        for _ in range(iters):
            loss = F.binary_cross_entropy_with_logits(
                x @ weight.t() + bias, target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                x.clamp_(min=0)
                now = F.binary_cross_entropy_with_logits(
                    x @ weight.t() + bias, target).item()
                if now < best_loss:
                    best_loss, best = now, x.detach().clone()
    return F.normalize(best, dim=1)


def combine_prototypes(recognition: Dict[int, Tensor],
                       extraction: Dict[int, Tensor],
                       extraction_weight: float = 0.5) -> Dict[int, Tensor]:
    """Combine both sides: ``normalize((1 - w) r_c + w e_c)`` for classes
    found in the current data, ``r_c`` alone otherwise (w = 0.5 is the
    TPAMI paper's equal-weight sum).

    Args:
        recognition (dict): class -> (C, ) unit recognition prototype.
        extraction (dict): class -> (C, ) unit extraction prototype.
        extraction_weight (float): w in [0, 1].
    """
    if not 0 <= extraction_weight <= 1:
        raise ValueError('extraction_weight must lie in [0, 1], got '
                         f'{extraction_weight}')
    out = {}
    for c, r in recognition.items():
        e = extraction.get(c)
        if e is None:
            out[c] = F.normalize(r, dim=0)
        else:
            out[c] = F.normalize(
                (1 - extraction_weight) * r + extraction_weight * e.to(r),
                dim=0)
    return out


def extraction_labels(old_logits: Tensor, label: Tensor, num_old: int,
                      threshold: float = 0.7,
                      bg_logit: float = 0.0) -> Tensor:
    """Extraction side: which grid cells count for which old class.

    A cell counts for old class c when the old model predicts c there (the
    sigmoid rule with a background logit ``bg_logit``), its sigmoid score is
    at least ``threshold``, and its label is background. Old classes appear
    in a step's labels as background only: cells labelled with a new class
    (which the old model has never seen and often calls an old class) and
    255 cells are left out, as in OCFM's old-class region.

    Args:
        old_logits (Tensor): (N, K, h, w) old foreground logits (train ids
            1..K).
        label (Tensor): (N, h, w) grid labels of the step (0 = background,
            255 = ignore).
        num_old (int): old train ids, background included (K + 1).
        threshold (float): minimum sigmoid score.

    Returns:
        Tensor: (N, h, w) train id of the cell's old class, or 255.
    """
    bg = old_logits.new_full(old_logits[:, :1].shape, bg_logit)
    score, pred = torch.cat([bg, old_logits], 1).max(dim=1)
    keep = (pred > 0) & (pred < num_old) & (torch.sigmoid(score) >=
                                            threshold) & (label == 0)
    return torch.where(keep, pred, torch.full_like(pred, 255))


def lite_replay_plan(new_cells: float, pred_counts: Dict[int, float],
                     old_classes, bg_cells: float, valid_cells: float,
                     total_cells: float, iters: int, setting: str,
                     pred_bg_in_label_bg: Optional[float] = None):
    """STAR-Lite's occurrence estimates (no stored counts).

    - Replay: every old class is replayed per iteration as often as an
      average new class is labelled per iteration (``m = new_cells /
      iters``); in the overlapped setting minus the cells the old model
      already predicts as that class inside this step's background.
    - Background repetition: the old model's background share over the
      step's images, b = bg_cells / valid_cells, stands for the cumulative
      share; r solves (1 + r) B / (S + M + r B) = b, where B is the
      background cells that are repeated (label and old prediction
      background), S the cells of one epoch and M the replayed features.

    Returns:
        tuple[dict, float]: per-iteration counts and the ratio r (>= 0).
    """
    iters = max(iters, 1)
    m = new_cells / iters
    per_iter = {}
    for c in old_classes:
        left = m - (pred_counts.get(c, 0.0) / iters
                    if setting == 'overlap' else 0.0)
        per_iter[c] = int(round(max(left, 0.0)))
    b = bg_cells / max(valid_cells, 1.0)
    big_b = pred_bg_in_label_bg if pred_bg_in_label_bg is not None else \
        bg_cells
    big_b = max(big_b, 1.0)
    replayed = sum(per_iter.values()) * iters
    if b >= 1:
        return per_iter, 0.0
    r = (b * (total_cells + replayed) - big_b) / (big_b * (1 - b))
    return per_iter, max(r, 0.0)
