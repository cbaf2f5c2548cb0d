"""Choose the distributed backend and norm layers from the environment."""
import os

import torch
from mmengine.config import Config


def _replace_syncbn(obj):
    if isinstance(obj, dict):
        if obj.get('type') == 'SyncBN':
            obj['type'] = 'BN'
        for v in obj.values():
            _replace_syncbn(v)
    elif isinstance(obj, list):
        for v in obj:
            _replace_syncbn(v)


def setup_launcher(cfg: Config) -> None:
    """Adapt ``cfg`` to the machine, unless the config says otherwise.

    - CPU only: SyncBN -> BN (SyncBN needs GPU modules), and under a
      launcher the gloo backend, DDP with ``device_ids=None`` and the
      process group initialised here (mmengine's init calls
      ``torch.cuda.set_device``, which CPU builds lack).
    - GPU: nccl (mmseg's default); SyncBN kept.
    ``cfg.auto_device = False`` turns all of this off.
    """
    if not cfg.get('auto_device', True):
        return
    if torch.cuda.is_available():
        return
    model = cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') \
        else dict(cfg.model)
    _replace_syncbn(model)
    cfg.model = model
    if cfg.get('launcher', 'none') == 'none':
        return
    cfg.setdefault('env_cfg', {})
    cfg.env_cfg['dist_cfg'] = dict(backend='gloo')
    cfg.model_wrapper_cfg = dict(type='MMDistributedDataParallel',
                                 device_ids=None, broadcast_buffers=False)
    import torch.distributed as dist
    if not dist.is_initialized():
        if cfg.launcher == 'slurm':
            os.environ.setdefault('RANK', os.environ.get('SLURM_PROCID', '0'))
            os.environ.setdefault('WORLD_SIZE',
                                  os.environ.get('SLURM_NTASKS', '1'))
            os.environ.setdefault('LOCAL_RANK',
                                  os.environ.get('SLURM_LOCALID', '0'))
        dist.init_process_group(backend='gloo')
