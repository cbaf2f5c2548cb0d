"""The protocol's curves: each step's summary as scalars against the step.

Every step's Runner logs its own iterations (losses, learning rate) under
``WORK_DIR/step_<t>/<timestamp>/vis_data/``. After a step is recorded in
``metrics.json``, :func:`add_step_scalars` adds its ``mIoU_base``,
``mIoU_inc``, ``mIoU_all`` and ``hIoU`` as ``incremental/<key>`` at x = the
step to the config's visualizer backends (``visualizer.vis_backends``:
LocalVisBackend, TensorboardVisBackend, WandbVisBackend ...), saved in
``WORK_DIR/vis_data/``: one curve per run, beside the steps' own logs
(``tensorboard --logdir work_dirs/`` shows both).
"""
import os.path as osp
from typing import Dict, List

from mmengine.config import Config

#: the tag prefix of the protocol's scalars
PREFIX = 'incremental'
SUMMARY_KEYS = ('mIoU_base', 'mIoU_inc', 'mIoU_all', 'hIoU')


def step_scalars(entry: dict) -> Dict[str, float]:
    """``{'incremental/mIoU_all': ..., 'incremental/step': t}`` of a
    metrics.json entry; keys without a value (``mIoU_inc`` at step 0) are
    left out. ``incremental/step`` is the x axis for backends that keep
    their own step counter (W&B)."""
    out = {f'{PREFIX}/{k}': float(entry[k]) for k in SUMMARY_KEYS
           if entry.get(k) is not None}
    out[f'{PREFIX}/step'] = entry['step']
    return out


def add_step_scalars(cfg: Config, work_dir: str, entry: dict) -> List[str]:
    """Add a step's summary to each backend of ``cfg.visualizer`` (saved in
    ``WORK_DIR/vis_data``); returns the backends' types. Call it on rank 0.
    """
    from mmseg.registry import VISBACKENDS
    backends = (cfg.get('visualizer') or {}).get('vis_backends') or []
    save_dir = osp.join(work_dir, 'vis_data')
    scalars = step_scalars(entry)
    done = []
    for backend_cfg in backends:
        backend_cfg = dict(backend_cfg)
        backend_cfg.pop('_scope_', None)
        backend = VISBACKENDS.build(dict(backend_cfg, save_dir=save_dir))
        backend.add_scalars(scalars, step=entry['step'])
        backend.close()
        done.append(backend_cfg['type'])
    return done
