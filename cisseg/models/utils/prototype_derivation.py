"""STAR-Lite (TPAMI 2025): old-class prototypes derived from the old model.

The authors' recipe (STAR-TPAMI's compute_prototype.py and VOC trainer) and
cisseg's zero-storage variant share the two sides and their combination;
they differ in which cells the extraction side reads
(:data:`EXTRACTION_RULES`), how replay is counted (stored counts, or
:func:`lite_replay_plan`'s estimates) and the noise of the replayed
features (:func:`nearest_prototype_distance`, or the extracted cells'
statistics).
"""
import math
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from cisseg.utils import check_choice

EXTRACTION_RULES = ('predicted', 'filtered')


def recognition_prototypes(weight: Tensor, bias: Tensor, iters: int = 50000,
                           lr: float = 2.5e-3, weight_decay: float = 0.01,
                           betas=(0.9, 0.999), eps: float = 1e-8,
                           anneal: bool = False) -> Tensor:
    """Recognition side: the feature each old classifier recognises best.

    The authors' objective: non-negative features X (one row per class, as
    features after the head's ReLU are), from zeros, whose sigmoid logits
    ``X W^T + b`` match the identity (class c fires on row c only), by
    minimising that mean BCE with AdamW and clamping X at 0 after every
    step; returns the unit rows of the lowest-loss X.

    The authors run AdamW at lr 2.5e-4, weight decay 0.01 for 500k
    iterations (``iters=500000, lr=2.5e-4``): the loss never stops falling
    (the logits grow until the decay holds them), so the result is where
    that path stands after 500k steps. Adam's steps are about lr long
    whatever the gradient's size and the decoupled decay shrinks X by
    lr * wd per step, so lr x10 for 1/10 of the iterations (the default)
    follows nearly the same path. The AdamW step is written out (the
    gradient of the mean BCE is ``(sigmoid(Z) - I) W / K^2``), which is
    several times faster than autograd and ``torch.optim`` on these small
    tensors and keeps the loop free of host syncs on a GPU; a step is 18
    tensor operations (launches on a GPU), the loop's whole cost.

    Args:
        weight (Tensor): (K, C) classifier weights of the K old classes.
        bias (Tensor): (K, ) classifier biases.
        iters (int): AdamW steps.
        lr (float): AdamW learning rate (the start of the cosine if
            ``anneal``).
        weight_decay (float): AdamW's decoupled weight decay.
        betas (tuple): AdamW's betas.
        eps (float): AdamW's eps.
        anneal (bool): cosine-anneal lr to 0 over ``iters``.

    Returns:
        Tensor: (K, C) unit prototypes.
    """
    weight, bias = weight.detach().float(), bias.detach().float()
    k, c = weight.shape
    x = weight.new_zeros(k, c)
    m, v = torch.zeros_like(x), torch.zeros_like(x)
    target = torch.eye(k, device=weight.device)
    # BCE with logits z is softplus(-z) where the target is 1 and softplus(z)
    # elsewhere (exact for tiny losses): softplus(z * sign)
    sign = 1 - 2 * target
    weight_t = weight.t().contiguous()
    # the mean over K x K logits folded into the gradient's matmul; the
    # loss is only compared with itself, so its sum is kept unscaled
    weight_mean = weight / (k * k)
    best = torch.zeros_like(x)
    best_loss = torch.tensor(math.inf, device=weight.device)
    b1, b2 = betas
    for t in range(1, iters + 1):
        z = torch.addmm(bias, x, weight_t)
        loss = F.softplus(z * sign).sum()
        better = loss < best_loss  # keep the X that gave the lowest loss
        best = torch.where(better, x, best)
        best_loss = torch.minimum(loss, best_loss)
        grad = torch.sigmoid(z).sub_(target).mm(weight_mean)
        step_lr = lr * 0.5 * (1 + math.cos(math.pi * (t - 1) / iters)) \
            if anneal else lr
        x.mul_(1 - step_lr * weight_decay)
        m.lerp_(grad, 1 - b1)
        v.mul_(b2).addcmul_(grad, grad, value=1 - b2)
        # AdamW's m^ / (sqrt(v^) + eps) with both bias corrections moved
        # into the scalars: sqrt(1 - b2^t) m / (b1_corr (sqrt(v) + eps'))
        root_b2 = math.sqrt(1 - b2**t)
        x.addcdiv_(m, v.sqrt().add_(eps * root_b2),
                   value=-step_lr * root_b2 / (1 - b1**t))
        x.clamp_(min=0)
    z = torch.addmm(bias, x, weight_t)
    loss = F.softplus(z * sign).sum()
    best = torch.where(loss < best_loss, x, best)
    return F.normalize(best, dim=1)


def combine_prototypes(recognition: Dict[int, Tensor],
                       extraction: Dict[int, Tensor],
                       extraction_weight: float = 0.5) -> Dict[int, Tensor]:
    """Combine both sides: ``normalize((1 - w) r_c + w e_c)`` for classes
    found in the current data, ``r_c`` alone otherwise (w = 0.5 is the
    authors' sum of the two unit vectors).

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


def extraction_labels(cell_logits: Tensor, label: Tensor, num_old: int,
                      rule: str = 'predicted', threshold: float = 0.7,
                      bg_logit: float = 0.5) -> Tensor:
    """Extraction side: which grid cells average into which old class.

    The old model predicts c at a cell when c's logit is the largest and
    exceeds ``bg_logit`` (the authors' training rule), otherwise background.

    - ``'predicted'`` (the authors'): every cell the old model predicts as
      old class c, whatever its label.
    - ``'filtered'`` (cisseg's zero-storage variant): only cells labelled
      background (old classes appear in a step's labels as background; a
      cell labelled with a new class, which the old model has never seen
      and may call an old class, would teach the new classifier not to
      fire on its own class through replay) whose sigmoid score is at
      least ``threshold`` (0.7: cells the old model is sure of).

    Args:
        cell_logits (Tensor): (N, K, h, w) old foreground logits (train
            ids 1..K) at the grid cells.
        label (Tensor): (N, h, w) grid labels of the step (0 = background,
            255 = ignore).
        num_old (int): old train ids, background included (K + 1).
        rule (str): one of :data:`EXTRACTION_RULES`.
        threshold (float): ``'filtered'``'s minimum sigmoid score.
        bg_logit (float): the old prediction's background logit.

    Returns:
        Tensor: (N, h, w) train id of the cell's old class, or 255.
    """
    check_choice('extraction rule', rule, EXTRACTION_RULES)
    bg = cell_logits.new_full(cell_logits[:, :1].shape, bg_logit)
    score, pred = torch.cat([bg, cell_logits], 1).max(dim=1)
    keep = (pred > 0) & (pred < num_old)
    if rule == 'filtered':
        keep &= (torch.sigmoid(score) >= threshold) & (label == 0)
    return torch.where(keep, pred, torch.full_like(pred, 255))


def nearest_prototype_distance(prototypes: Tensor) -> Tensor:
    """The authors' ``dist`` noise scale: each unit prototype's Euclidean
    distance to its nearest other prototype (0 for a single prototype).

    Args:
        prototypes (Tensor): (K, C) unit prototypes.

    Returns:
        Tensor: (K, ) distances; the replay draws every class's noise with
        their mean.
    """
    k = prototypes.shape[0]
    if k < 2:
        return prototypes.new_zeros(k)
    d = torch.cdist(prototypes[None].double(), prototypes[None].double())[0]
    d.fill_diagonal_(math.inf)
    return d.min(dim=1).values.to(prototypes.dtype)


def lite_replay_plan(new_cells: float, pred_counts: Dict[int, float],
                     old_classes, bg_cells: float, valid_cells: float,
                     total_cells: float, iters: int, setting: str,
                     pred_bg_in_label_bg: Optional[float] = None):
    """cisseg's zero-storage occurrence estimates (``counts='estimated'``;
    the authors store the counts).

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
