"""DKD's losses on the sigmoid head (Baek et al., NeurIPS 2022): knowledge
distillation of the old classes' sigmoid logits, its decomposition into the
positive and negative parts of each logit, and the auxiliary classifier's
loss."""
from typing import Tuple

import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmseg.registry import MODELS


def sigmoid_kd(logits: Tensor, old_logits: Tensor) -> Tensor:
    """Per-class BCE of logits against the old model's sigmoid outputs.

    Args:
        logits (Tensor): (N, K, H, W) current logits of K old classes.
        old_logits (Tensor): (N, K, H, W) the old model's logits of the same
            classes (no gradient flows into them).

    Returns:
        Tensor: (K, ) BCE(logits, sigmoid(old_logits)) of each class,
        averaged over every pixel.
    """
    target = old_logits.detach().sigmoid()
    loss = F.binary_cross_entropy_with_logits(
        logits, target.to(logits.dtype), reduction='none')
    return loss.mean(dim=(0, 2, 3))


def decompose_logits(feat: Tensor, weight: Tensor) -> Tuple[Tensor, Tensor]:
    """Positive and negative parts of 1x1 classifiers' logits (DKD).

    A logit without its bias is ``sum_c w_c f_c``; its positive part sums
    the terms of the positive weights, its negative part those of the
    negative weights (features after a ReLU are >= 0, so the parts are the
    evidence for and against the class).

    Args:
        feat (Tensor): (N, C, H, W) features before the classifier.
        weight (Tensor): (K, C) or (K, C, 1, 1) classifier weights.

    Returns:
        tuple[Tensor]: ``(pos, neg)``, each (N, K, H, W), with
        ``pos + neg`` the logits without bias.
    """
    w = weight.reshape(weight.shape[0], -1, 1, 1).to(feat.dtype)
    pos = F.conv2d(feat, w.clamp(min=0))
    neg = F.conv2d(feat, w.clamp(max=0))
    return pos, neg


@MODELS.register_module()
class SigmoidKDLoss(nn.Module):
    """DKD's distillation: BCE of current logits against the old model's
    sigmoid outputs, averaged over pixels and summed over classes. DKD uses
    it three times with weight 5: on the old classes' logits (``loss_kd``)
    and on their positive and negative parts (``loss_dkd_pos``,
    ``loss_dkd_neg``, see :func:`decompose_logits`).

    Args:
        loss_weight (float): weight of the loss.
        loss_name (str): name in the loss dict.
    """

    def __init__(self, loss_weight: float = 5.0,
                 loss_name: str = 'loss_kd') -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self, logits: Tensor, old_logits: Tensor,
                **kwargs) -> Tensor:
        return self.loss_weight * sigmoid_kd(logits, old_logits).sum()

    @property
    def loss_name(self) -> str:
        return self._loss_name


@MODELS.register_module()
class AuxClassifierLoss(nn.Module):
    """DKD's auxiliary-classifier loss: BCE with target 0 at every pixel,
    i.e. the mean of softplus(logit), summed over the classifier's outputs.

    The auxiliary classifier (on detached features) learns what a class
    that is never present scores; DKD copies it into each new classifier at
    the start of a step.

    Args:
        loss_weight (float): weight of the loss (1 in DKD).
        loss_name (str): name in the loss dict.
    """

    def __init__(self, loss_weight: float = 1.0,
                 loss_name: str = 'loss_ac') -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self, aux_logits: Tensor, **kwargs) -> Tensor:
        per_output = F.softplus(aux_logits).mean(dim=(0, 2, 3))
        return self.loss_weight * per_output.sum()

    @property
    def loss_name(self) -> str:
        return self._loss_name

