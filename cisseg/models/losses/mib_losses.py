"""MiB's unbiased cross-entropy and unbiased knowledge distillation."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmseg.registry import MODELS


def unbiased_cross_entropy(logits: Tensor, label: Tensor, num_old: int,
                           ignore_index: int = 255) -> Tensor:
    """Per-pixel unbiased CE (MiB).

    Background pixels (label < ``num_old``, i.e. background or an old class
    relabelled as background) score the summed probability of background
    and the old classes; new-class pixels their own probability.

    Args:
        logits (Tensor): (N, C, H, W) logits over all seen classes.
        label (Tensor): (N, H, W) train ids.
        num_old (int): train ids seen before this step (background incl.).

    Returns:
        Tensor: (N, H, W) loss, 0 at ignored pixels.
    """
    lse = torch.logsumexp(logits, dim=1)
    log_bg = torch.logsumexp(logits[:, :num_old], dim=1) - lse
    valid = label != ignore_index
    idx = label.clamp(max=logits.shape[1] - 1).long()
    log_own = logits.gather(1, idx.unsqueeze(1)).squeeze(1) - lse
    log_p = torch.where(label < num_old, log_bg, log_own)
    return torch.where(valid, -log_p, torch.zeros_like(log_p))


def unbiased_kd(logits: Tensor, old_logits: Tensor,
                alpha: float = 1.0) -> Tensor:
    """Per-pixel unbiased knowledge distillation (MiB).

    The old model's softmax over its classes is the target; the new model's
    background probability is that of background plus the new classes.

    Args:
        logits (Tensor): (N, C, H, W) new logits, C >= old classes.
        old_logits (Tensor): (N, C_old, H, W) old logits.
        alpha (float): temperature factor on the old logits.

    Returns:
        Tensor: (N, H, W) loss.
    """
    c_old = old_logits.shape[1]
    lse = torch.logsumexp(logits, dim=1, keepdim=True)
    bg_and_new = torch.cat([logits[:, :1], logits[:, c_old:]], dim=1)
    log_bg = torch.logsumexp(bg_and_new, dim=1, keepdim=True) - lse
    log_old = logits[:, 1:c_old] - lse
    log_p = torch.cat([log_bg, log_old], dim=1)
    q = F.softmax(old_logits * alpha, dim=1)
    return -(q * log_p).sum(dim=1) / c_old


@MODELS.register_module()
class UnbiasedCrossEntropyLoss(nn.Module):
    """MiB's unbiased cross-entropy, averaged over labelled pixels."""

    def __init__(self, loss_weight: float = 1.0,
                 loss_name: str = 'loss_unce') -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self, logits, label, num_old, ignore_index=255, **kwargs):
        loss = unbiased_cross_entropy(logits, label, num_old, ignore_index)
        valid = (label != ignore_index).sum().clamp(min=1)
        return self.loss_weight * loss.sum() / valid

    @property
    def loss_name(self) -> str:
        return self._loss_name


@MODELS.register_module()
class UnbiasedKDLoss(nn.Module):
    """MiB's unbiased knowledge distillation, averaged over pixels
    (weight 10 in MiB's VOC settings)."""

    def __init__(self, alpha: float = 1.0, loss_weight: float = 10.0,
                 loss_name: str = 'loss_unkd') -> None:
        super().__init__()
        self.alpha = alpha
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self, logits, old_logits, **kwargs):
        return self.loss_weight * unbiased_kd(logits, old_logits,
                                              self.alpha).mean()

    @property
    def loss_name(self) -> str:
        return self._loss_name
