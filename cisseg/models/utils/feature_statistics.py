"""Per-class feature statistics accumulated over a pass of a dataset."""
from typing import Dict, Optional, Sequence

import torch
import torch.nn.functional as F
from mmengine.dist import all_reduce, is_distributed
from torch import Tensor


def masked_bincount(ids: Tensor, num: int, mask: Optional[Tensor] = None,
                    dtype=torch.float64) -> Tensor:
    """``torch.bincount(ids[mask], minlength=num)[:num]`` (ids outside
    ``[0, num)`` dropped) without a host-device sync: boolean indexing and
    CUDA's ``bincount`` both wait for the GPU, which stalls a pass or a
    training iteration; dropped ids go to a spare bin instead."""
    ids = ids.long()  # a uint8 label map could not hold the spare bin
    keep = (ids >= 0) & (ids < num)
    if mask is not None:
        keep &= mask
    idx = torch.where(keep, ids, num).flatten()
    out = torch.zeros(num + 1, dtype=dtype, device=ids.device)
    out.scatter_add_(0, idx, torch.ones_like(idx, dtype=dtype))
    return out[:num]


def grid_labels(label: Tensor, size) -> Tensor:
    """Sample (N, H, W) labels at the centre of each cell of an (h, w)
    feature grid (STAR samples one label per stride x stride cell)."""
    h, w = size
    H, W = label.shape[-2:]
    ys = ((torch.arange(h, device=label.device) + 0.5) * H / h).long()
    xs = ((torch.arange(w, device=label.device) + 0.5) * W / w).long()
    return label[..., ys.clamp(max=H - 1)[:, None], xs.clamp(max=W - 1)]


class FeatureStatistics:
    """Sums that give each class's prototype, noise scale, norm mean/std and
    count; sums reduce across ranks (``all_reduce``), so the distributed
    result equals the single-process one.

    For class c over its cells with features f (unit f^ = f / |f|):
    ``count`` n, ``sum`` S1 = sum f^, ``sq_sum`` S2 = sum f^ * f^,
    ``norm_sum`` sum |f|, ``norm_sq_sum`` sum |f|^2.

    Args:
        num_classes (int): train ids to accumulate (rows).
        channels (int): feature channels.
    """

    def __init__(self, num_classes: int, channels: int,
                 device='cpu') -> None:
        z = dict(device=device, dtype=torch.float64)
        self.count = torch.zeros(num_classes, **z)
        self.sum = torch.zeros(num_classes, channels, **z)
        self.sq_sum = torch.zeros(num_classes, channels, **z)
        self.norm_sum = torch.zeros(num_classes, **z)
        self.norm_sq_sum = torch.zeros(num_classes, **z)

    @torch.no_grad()
    def update(self, feat: Tensor, label: Tensor) -> None:
        """Add (N, C, h, w) features labelled by (N, h, w) grid train ids;
        ids outside the rows (e.g. 255) are skipped.

        Skipped cells are added to row 0 with weight 0 rather than filtered
        out (boolean indexing would wait for the GPU every call); adding
        exact zeros leaves every sum as it was."""
        c = feat.shape[1]
        f = feat.permute(0, 2, 3, 1).reshape(-1, c).double()
        y = label.reshape(-1).long()
        keep = (y >= 0) & (y < self.count.shape[0])
        y = torch.where(keep, y, 0)
        w = keep.double()
        norm = f.norm(dim=1)
        unit = f / norm.clamp(min=1e-12)[:, None] * w[:, None]
        norm = norm * w
        self.count.index_add_(0, y, w)
        self.sum.index_add_(0, y, unit)
        self.sq_sum.index_add_(0, y, unit * unit)
        self.norm_sum.index_add_(0, y, norm)
        self.norm_sq_sum.index_add_(0, y, norm * norm)

    def all_reduce(self) -> None:
        if is_distributed():
            for t in (self.count, self.sum, self.sq_sum, self.norm_sum,
                      self.norm_sq_sum):
                all_reduce(t, op='sum')

    def finalize(self, classes: Sequence[int],
                 noise_centres: Optional[Dict[int, Tensor]] = None
                 ) -> Dict[int, dict]:
        """Prototype entries of ``classes`` (train ids) that have cells:
        ``prototype`` = unit mean direction p, ``noise`` = per-dimension
        RMS of f^ about p (about ``noise_centres[c]`` where given),
        ``norm_mean``/``norm_std`` (unbiased) of |f|, ``count`` = number
        of cells."""
        out = {}
        for c in classes:
            n = float(self.count[c])
            if n == 0:
                continue
            s1, s2 = self.sum[c], self.sq_sum[c]
            p = F.normalize(s1, dim=0)
            q = p
            if noise_centres is not None and c in noise_centres:
                q = noise_centres[c].to(s1)
            var = (s2 / n - 2 * q * s1 / n + q * q).clamp(min=0)
            mean = float(self.norm_sum[c]) / n
            var_norm = (float(self.norm_sq_sum[c]) - n * mean * mean) / \
                max(n - 1, 1)
            out[int(c)] = dict(
                prototype=p.float(), noise=var.sqrt().float(),
                norm_mean=mean, norm_std=max(var_norm, 0.0) ** 0.5, count=n)
        return out
