"""Similarity-aware discriminative loss (STAR)."""
from typing import Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmseg.registry import MODELS


def sad_loss(feat: Tensor, label: Tensor, new_classes: Sequence[int],
             prototypes: Tensor) -> Tensor:
    """Push each new class's batch centre away from its closest old
    prototype.

    Args:
        feat (Tensor): (N, C, h, w) features before the classifier.
        label (Tensor): (N, H, W) train ids (255 ignored).
        new_classes (Sequence[int]): train ids of the new classes.
        prototypes (Tensor): (P, C) unit old-class prototypes.

    Returns:
        Tensor: mean over all K new classes of 1 / min_i ||u_c - p_i||,
        where u_c is the normalised sum of the normalised features weighted
        by the class mask bilinearly resized to the feature grid. A new
        class absent from the batch has u_c = 0 (the normalisation of a
        zero sum), so it adds the constant 1 / min_i ||p_i|| (1 for unit
        prototypes) and no gradient, as in the authors' code: the loss is
        divided by K, not by the number of classes present.
    """
    if prototypes.numel() == 0 or not len(new_classes):
        return feat.sum() * 0
    unit = F.normalize(feat, dim=1)
    protos = prototypes.to(feat.dtype)
    terms = []
    for c in new_classes:
        onehot = (label == c).unsqueeze(1).to(feat.dtype)
        m = F.interpolate(onehot, size=feat.shape[2:], mode='bilinear',
                          align_corners=False)
        centre = F.normalize((m * unit).sum(dim=(0, 2, 3)), dim=0)
        dist = torch.cdist(centre[None], protos)[0]
        terms.append(1.0 / dist.min().clamp(min=1e-6))
    return torch.stack(terms).mean()


@MODELS.register_module()
class SADLoss(nn.Module):
    """Penalise the similarity of every new class to its most similar old
    class prototype (weight 0.05 in STAR).

    Args:
        loss_weight (float): weight of the loss.
        loss_name (str): name in the loss dict.
    """

    def __init__(self, loss_weight: float = 0.05,
                 loss_name: str = 'loss_sad') -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self, feat: Tensor, label: Tensor, new_classes, prototypes,
                **kwargs) -> Tensor:
        return self.loss_weight * sad_loss(feat, label, new_classes,
                                           prototypes)

    @property
    def loss_name(self) -> str:
        return self._loss_name
