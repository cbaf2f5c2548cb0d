"""PLOP's Local POD distillation (Douillard et al., CVPR 2021)."""
from typing import Optional, Sequence

import torch
import torch.nn as nn
from torch import Tensor

from mmseg.registry import MODELS


def local_pod(x: Tensor, scales: Sequence[int] = (1, 2, 4)) -> Tensor:
    """Local POD embedding of feature maps.

    At each scale s the map is cut into s x s regions (of ``H // s`` by
    ``W // s`` pixels; leftover rows and columns are dropped, as in PLOP);
    each region is averaged along its width (one value per channel and row)
    and along its height (one value per channel and column). All the pooled
    values of all regions and scales, concatenated.

    Args:
        x (Tensor): (N, C, H, W) maps.
        scales (Sequence[int]): regions per side at each scale.

    Returns:
        Tensor: (N, D) with D = sum_s s * s * C * (H // s + W // s).
    """
    n, c, h, w = x.shape
    parts = []
    for s in scales:
        kh, kw = h // s, w // s
        if kh == 0 or kw == 0:
            raise ValueError(f'local_pod: a {h}x{w} map cannot be cut into '
                             f'{s}x{s} regions')
        r = x[..., :s * kh, :s * kw].reshape(n, c, s, kh, s, kw)
        parts.append(r.mean(dim=5).flatten(1))  # along the width
        parts.append(r.mean(dim=3).flatten(1))  # along the height
    return torch.cat(parts, dim=1)


def pod_distance(x: Tensor, old_x: Tensor,
                 scales: Sequence[int] = (1, 2, 4)) -> Tensor:
    """PLOP's distance of two maps: the L2 norm of the difference of the
    Local POD embeddings of their squares, averaged over the batch."""
    emb = local_pod(x.pow(2), scales)
    old_emb = local_pod(old_x.detach().to(x.dtype).pow(2), scales)
    return (emb - old_emb).norm(dim=1).mean()


def fold_new_classes(logits: Tensor, num_old: int) -> Tensor:
    """Softmax logits of the current model over the old model's classes:
    the new classes' logits are added to background's (PLOP's 'sum' of the
    extra channels), the old classes' are kept.

    Args:
        logits (Tensor): (N, C, H, W), background first, then the old
            classes, then the new ones.
        num_old (int): classes of the old model, background included.
    """
    bg = logits[:, :1] + logits[:, num_old:].sum(dim=1, keepdim=True)
    return torch.cat([bg, logits[:, 1:num_old]], dim=1)


@MODELS.register_module()
class LocalPODLoss(nn.Module):
    """Local POD between the current and the old model's maps (PLOP).

    One :func:`pod_distance` per map: every feature map given (PLOP: the
    four backbone stages and the decode head's features) weighted by
    ``loss_weight``, and the logits on the feature grid weighted by
    ``logits_weight`` (new classes folded into background,
    :func:`fold_new_classes`). Their sum is divided by the number of maps
    and multiplied by ``weight`` (PLOP: sqrt(classes seen / new classes)).

    Args:
        scales (Sequence[int]): regions per side (PLOP: 1, 2, 4).
        loss_weight (float): weight of each feature map (PLOP: 0.01 on
            Pascal VOC, 0.001 on ADE20K).
        logits_weight (float): weight of the logits (PLOP: 0.0005 on VOC,
            1e-5 on ADE20K).
        loss_name (str): name in the loss dict.
    """

    def __init__(self, scales: Sequence[int] = (1, 2, 4),
                 loss_weight: float = 0.01, logits_weight: float = 0.0005,
                 loss_name: str = 'loss_pod') -> None:
        super().__init__()
        self.scales = tuple(int(s) for s in scales)
        self.loss_weight = loss_weight
        self.logits_weight = logits_weight
        self._loss_name = loss_name

    def forward(self, feats: Sequence[Tensor], old_feats: Sequence[Tensor],
                logits: Optional[Tensor] = None,
                old_logits: Optional[Tensor] = None, weight: float = 1.0,
                **kwargs) -> Tensor:
        if len(feats) != len(old_feats):
            raise ValueError(f'LocalPODLoss: {len(feats)} maps against '
                             f'{len(old_feats)} old ones')
        terms = [self.loss_weight * pod_distance(f, o, self.scales)
                 for f, o in zip(feats, old_feats)]
        if logits is not None:
            folded = fold_new_classes(logits, old_logits.shape[1])
            terms.append(self.logits_weight *
                         pod_distance(folded, old_logits, self.scales))
        return weight * sum(terms) / len(terms)

    @property
    def loss_name(self) -> str:
        return self._loss_name
