"""Old-class feature maintaining loss (STAR)."""
import torch.nn as nn
from torch import Tensor

from mmseg.registry import MODELS


def ocfm_loss(feat: Tensor, old_feat: Tensor, mask: Tensor) -> Tensor:
    """Masked MSE between current and old features.

    Args:
        feat (Tensor): (N, C, h, w) current features before the classifier.
        old_feat (Tensor): (N, C, h, w) the previous model's features.
        mask (Tensor): (N, 1, h, w) weights in [0, 1], the old-class region
            (label background, old model predicts an old class).

    Returns:
        Tensor: sum(mask * (feat - old_feat)^2) / (sum(mask) * C); 0 when
        the mask is empty (a batch without old-class regions). The authors'
        code divides by zero there: NaN, and under AMP the step is skipped;
        here the step goes on with the other losses.
    """
    c = feat.shape[1]
    area = mask.sum()
    if area <= 0:
        return feat.sum() * 0
    return (mask * (feat - old_feat.detach()).pow(2)).sum() / (area * c)


@MODELS.register_module()
class OCFMLoss(nn.Module):
    """Pull current features toward the old model's features inside
    old-class regions only (weight 5 in STAR).

    Args:
        loss_weight (float): weight of the loss.
        loss_name (str): name in the loss dict.
    """

    def __init__(self, loss_weight: float = 5.0,
                 loss_name: str = 'loss_ocfm') -> None:
        super().__init__()
        self.loss_weight = loss_weight
        self._loss_name = loss_name

    def forward(self, feat: Tensor, old_feat: Tensor, mask: Tensor,
                **kwargs) -> Tensor:
        return self.loss_weight * ocfm_loss(feat, old_feat, mask)

    @property
    def loss_name(self) -> str:
        return self._loss_name
