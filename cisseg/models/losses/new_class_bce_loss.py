"""Binary cross-entropy on the new classes' sigmoid logits (DKD / STAR)."""
from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmseg.registry import MODELS


def new_class_bce(new_logits: Tensor, label: Tensor, first_class: int,
                  ignore_index: Optional[int] = 255,
                  pos_weight: float = 4.0) -> Tensor:
    """Per-class BCE of the new classes' logits.

    Args:
        new_logits (Tensor): (N, K, H, W) logits of the K new classes.
        label (Tensor): (N, H, W) train ids; new class k has train id
            ``first_class + k``; background, old and future classes are 0.
        first_class (int): train id of the first new class.
        ignore_index (int, optional): label left out of the loss (255);
            None: every pixel counts, 255 ones as negatives of every new
            class (the DKD/STAR authors' code).
        pos_weight (float): weight of the positive term.

    Returns:
        Tensor: (K, ) mean BCE of each class over the labelled pixels.
    """
    k = new_logits.shape[1]
    classes = torch.arange(first_class, first_class + k,
                           device=label.device).view(1, k, 1, 1)
    target = (label.unsqueeze(1) == classes).to(new_logits.dtype)
    pw = new_logits.new_tensor(pos_weight)
    loss = F.binary_cross_entropy_with_logits(
        new_logits, target, pos_weight=pw, reduction='none')
    if ignore_index is None:
        return loss.mean(dim=(0, 2, 3))
    valid = (label != ignore_index).unsqueeze(1).to(new_logits.dtype)
    denom = valid.sum().clamp(min=1)
    return (loss * valid).sum(dim=(0, 2, 3)) / denom


def zero_target_bce(logits: Tensor) -> Tensor:
    """Per-class mean BCE with target 0 of (M, K) logits: softplus(x)."""
    if logits.shape[0] == 0:
        return logits.new_zeros(logits.shape[1])
    return F.softplus(logits).mean(dim=0)


@MODELS.register_module()
class NewClassBCELoss(nn.Module):
    """BCE with ``pos_weight`` on the new classes' logits only, summed over
    classes (each class averaged over pixels, as the authors' code does).

    Args:
        pos_weight (float): 4 for VOC, 30 for ADE20K in STAR.
        loss_weight (float): weight of the loss.
        void_as_negative (bool): True: pixels labelled ``ignore_index`` (255,
            VOC's object outlines) are negatives of every new class and count
            in each class's mean, as in the DKD and STAR code (the paper
            configs); False: they are left out (cisseg's option: 255 means
            "unknown", and on the demo's outlined shapes it gave 5.1 more
            step-0 mIoU, docs/differences.md).
        loss_name (str): name in the loss dict.
    """

    def __init__(self, pos_weight: float = 4.0, loss_weight: float = 1.0,
                 void_as_negative: bool = False,
                 loss_name: str = 'loss_bce') -> None:
        super().__init__()
        self.pos_weight = pos_weight
        self.void_as_negative = void_as_negative
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self, new_logits: Tensor, label: Tensor, first_class: int,
                ignore_index: int = 255, **kwargs) -> Tensor:
        per_class = new_class_bce(new_logits, label, first_class,
                                  self.label_ignore(ignore_index),
                                  self.pos_weight)
        return self.loss_weight * per_class.sum()

    def label_ignore(self, ignore_index: int) -> Optional[int]:
        """The label the loss leaves out: none with ``void_as_negative``."""
        return None if self.void_as_negative else ignore_index

    @property
    def loss_name(self) -> str:
        return self._loss_name
