"""The prototypes of the classes learned so far, and their replay."""
import os.path as osp
import pickle
from typing import Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from cisseg.utils import atomic_torch_save, check_choice

NORM_DRAWS = ('per_feature', 'per_element')


class PrototypeBank:
    """Per-class prototype entries (see :class:`FeatureStatistics`) keyed
    by train id, plus the cumulative background count ``bg_count`` (η_bg).

    An entry replays with the NeurIPS noise model (``noise``, ``norm_mean``,
    ``norm_std``) or, when it holds ``dist`` instead, with STAR-TPAMI's
    ``dist`` model (see :meth:`sample`).

    STAR-Basic saves one bank per step (``step_<t>/prototypes.pth``, the
    classes seen up to t); the next step loads it.
    """

    def __init__(self, classes: Optional[Dict[int, dict]] = None,
                 bg_count: float = 0.0, meta: Optional[dict] = None) -> None:
        self.classes: Dict[int, dict] = dict(classes or {})
        self.bg_count = float(bg_count)
        self.meta = dict(meta or {})
        # (class, device) -> prototype and noise there; entries never change
        self._device_cache: Dict[tuple, tuple] = {}

    def __len__(self) -> int:
        return len(self.classes)

    @property
    def class_ids(self):
        return sorted(self.classes)

    def prototypes(self, device=None) -> Tensor:
        """(P, C) unit prototypes, in train-id order."""
        if not self.classes:
            return torch.zeros(0, 0, device=device)
        return torch.stack([self.classes[c]['prototype']
                            for c in self.class_ids]).to(device)

    def counts(self) -> Dict[int, float]:
        return {c: self.classes[c]['count'] for c in self.class_ids}

    def sample(self, num_per_class: Dict[int, int],
               generator: Optional[torch.Generator] = None,
               device=None, scale: Optional[Tensor] = None,
               norm_draw: str = 'per_feature'):
        """Synthetic features: for class c, ``n_c`` vectors
        (p_c + eps * noise_c) * r, eps ~ N(0, I), r ~ N(norm_mean, norm_std)
        one norm per vector (``norm_draw='per_feature'``) or one per
        element (``'per_element'``, the STAR code's draw); for a ``dist``
        entry, unit vectors
        normalize(p_c + tan(2 asin(d / 2)) u) * ``scale``, d = |N(0, 1)| *
        dist_c (below 2), u a unit direction orthogonal to p_c from a
        uniform draw in [-0.5, 0.5]^C (for d < sqrt 2 the vector lies at
        chord distance d from p_c); ``scale`` is the batch's mean feature
        norm.

        Drawn on ``device`` (a ``generator`` must live there): replaying
        tens of thousands of features per iteration from the CPU's random
        stream made a GPU step wait for the CPU.

        Returns:
            tuple[Tensor, Tensor]: (M, C) features and (M, ) train ids.
        """
        check_choice('PrototypeBank.sample: norm_draw', norm_draw,
                     NORM_DRAWS)
        device = torch.device('cpu' if device is None else device)
        feats, labels = [], []
        for c, n in num_per_class.items():
            n = int(n)
            if n <= 0 or c not in self.classes:
                continue
            e = self.classes[c]
            p, s = self._on_device(c, device)
            if 'dist' in e:
                feats.append(self._sample_dist(p, e['dist'], n, generator,
                                               device, scale))
                labels.append(torch.full((n, ), c, dtype=torch.long,
                                         device=device))
                continue
            eps = torch.randn(n, p.numel(), generator=generator,
                              device=device)
            r = e['norm_mean'] + e['norm_std'] * torch.randn(
                n, 1 if norm_draw == 'per_feature' else p.numel(),
                generator=generator, device=device)
            feats.append((p + eps * s) * r)
            labels.append(torch.full((n, ), c, dtype=torch.long,
                                     device=device))
        if not feats:
            return None, None
        return torch.cat(feats), torch.cat(labels)

    @staticmethod
    def _sample_dist(p: Tensor, dist: float, n: int, generator, device,
                     scale: Optional[Tensor]) -> Tensor:
        if scale is None:
            raise ValueError("PrototypeBank.sample: a 'dist' entry needs "
                             'scale (the batch mean feature norm)')
        d = (torch.randn(n, generator=generator, device=device).abs() *
             float(dist)).clamp(max=1.999)
        u = torch.rand(n, p.numel(), generator=generator,
                       device=device) - 0.5
        u = F.normalize(u - (u @ p)[:, None] * p, dim=1)
        unit = F.normalize(
            p + torch.tan(2 * torch.asin(d / 2))[:, None] * u, dim=1)
        return unit * scale

    def _on_device(self, c: int, device: torch.device):
        """Class c's prototype and noise scale (None for a ``dist``
        entry) on ``device`` (cached)."""
        key = (c, str(device))
        if key not in self._device_cache:
            e = self.classes[c]
            noise = e.get('noise')
            self._device_cache[key] = (
                e['prototype'].to(device),
                None if noise is None else noise.to(device))
        return self._device_cache[key]

    def state_dict(self) -> dict:
        return dict(classes=self.classes, bg_count=self.bg_count,
                    meta=self.meta)

    def save(self, path: str) -> None:
        atomic_torch_save(self.state_dict(), path)

    @classmethod
    def load(cls, path: str) -> 'PrototypeBank':
        if not osp.isfile(path):
            raise FileNotFoundError(f'{path}: prototype file not found')
        try:
            state = torch.load(path, map_location='cpu', weights_only=True)
        except (RuntimeError, EOFError, OSError, pickle.UnpicklingError) as e:
            msg = str(e).strip().splitlines()
            raise ValueError(
                f'{path}: unreadable prototype file, truncated or not a '
                f"torch file ({msg[0] if msg else type(e).__name__})") from e
        if not isinstance(state, dict) or 'classes' not in state:
            raise ValueError(f'{path}: not a cisseg prototype file')
        return cls(state['classes'], state['bg_count'], state.get('meta'))
