"""Fit a config to the machine and start (and end) the process group.

One process group serves every step of a protocol: it is initialised here,
before the step scheduler builds its first Runner (the Runners then find it
initialised and use it), and destroyed when the tool ends, after a success
or an error.
"""
import datetime
import logging
import os
import subprocess
import sys
import time
import traceback
from typing import Callable, List

import torch
import torch.distributed as dist
from mmengine.config import Config
from mmengine.dist import get_rank

#: errors of the user's making (config, paths, protocol): one line, no
#: traceback unless ``--debug``. TypeError: a config key that the built
#: class does not take ("__init__() got an unexpected keyword argument").
USER_ERRORS = (ValueError, FileNotFoundError, KeyError, TypeError)


def _replace_syncbn(obj) -> int:
    """SyncBN -> BN in place; returns how many norm configs changed."""
    count = 0
    if isinstance(obj, dict):
        if obj.get('type') == 'SyncBN':
            obj['type'] = 'BN'
            count += 1
        for v in obj.values():
            count += _replace_syncbn(v)
    elif isinstance(obj, list):
        for v in obj:
            count += _replace_syncbn(v)
    return count


def _setup_cpu(cfg: Config, launcher: str) -> List[str]:
    """SyncBN -> BN; under a launcher gloo and DDP on CPU modules. Returns
    what it changed, one line each."""
    changes = []
    model = cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') \
        else dict(cfg.model)
    n = _replace_syncbn(model)
    cfg.model = model
    if n:
        changes.append(f'model: SyncBN -> BN in {n} norm config(s) (SyncBN '
                       'needs CUDA)')
    if cfg.pop('sync_bn', None) is not None:
        # mmengine would convert BN back to SyncBN
        changes.append('sync_bn: removed (SyncBN needs CUDA)')
    if launcher == 'none':
        return changes
    cfg.setdefault('env_cfg', {})
    dist_cfg = dict(cfg.env_cfg.get('dist_cfg') or {})
    dist_cfg['backend'] = 'gloo'
    cfg.env_cfg['dist_cfg'] = dist_cfg
    wrapper = dict(cfg.get('model_wrapper_cfg') or
                   dict(type='MMDistributedDataParallel',
                        broadcast_buffers=False,
                        find_unused_parameters=cfg.get(
                            'find_unused_parameters', False)))
    # the Runner's default device_ids=[LOCAL_RANK] is refused for CPU modules
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper
    changes += ['env_cfg.dist_cfg.backend = gloo',
                f"model_wrapper_cfg: {wrapper['type']} with device_ids=None"]
    # BN instead of SyncBN: keep running statistics equal on all ranks
    hooks = list(cfg.get('custom_hooks') or [])
    if not any(h.get('type') == 'SyncNormBuffersHook' for h in hooks):
        hooks.append(dict(type='SyncNormBuffersHook'))
        changes.append('custom_hooks: + SyncNormBuffersHook (BN statistics '
                       'averaged over ranks)')
    cfg.custom_hooks = hooks
    return changes


def _setup_gpu(cfg: Config, launcher: str) -> List[str]:
    """Under a launcher nccl and SyncBN. Returns what it changed, one line
    each.

    ``env_cfg.cudnn_benchmark`` stays as the config sets it (off in
    ``default_runtime.py``, as the authors train): measured on an H100 it
    shortens STAR iterations (cisseg's STAR-Lite 6%, the authors' STAR
    13%) but not fine-tuning's, autotunes again at every new batch shape
    (a pass's last batch) and its trial workspaces raise the peak memory
    (docs/benchmark.md); opt in with
    ``--cfg-options env_cfg.cudnn_benchmark=True``."""
    changes = []
    cfg.setdefault('env_cfg', {})
    if launcher == 'none':
        return changes
    dist_cfg = dict(cfg.env_cfg.get('dist_cfg') or {})
    dist_cfg['backend'] = 'nccl'
    cfg.env_cfg['dist_cfg'] = dist_cfg
    changes.append('env_cfg.dist_cfg.backend = nccl')
    # mmengine's Runner turns every BN layer into SyncBN under DDP; SyncBN
    # layers of the config are kept as they are.
    if 'sync_bn' not in cfg:
        cfg.sync_bn = 'torch'
        changes.append("sync_bn = 'torch' (every BN layer becomes SyncBN)")
    return changes


def _log(msg: str, level: int = logging.INFO) -> None:
    """Print ``msg`` on rank 0. No Runner exists yet, so no logger of the
    run: the lines go to the console (and its log, if it is kept)."""
    if get_rank() == 0:
        word = logging.getLevelName(level)
        print(f'{time.strftime("%m/%d %H:%M:%S")} - cisseg - {word} - '
              f'{msg}', flush=True)


def check_batch(cfg: Config) -> None:
    """Log the total training batch (per process x processes) and warn when
    it differs from the config's reference, ``auto_scale_lr.base_batch_size``
    (the papers' total batch): the learning rates are then scaled only with
    ``auto_scale_lr.enable=True`` (``tools/train.py --auto-scale-lr``)."""
    loader = cfg.get('train_dataloader')
    if not loader or 'batch_size' not in loader:
        return
    world = dist.get_world_size() if dist.is_available() and \
        dist.is_initialized() else 1
    per_process = loader.batch_size
    total = per_process * world
    _log(f'batch: {per_process} per process x {world} process(es) = '
         f'{total}')
    scale = cfg.get('auto_scale_lr') or {}
    ref = scale.get('base_batch_size')
    if ref is None or ref == total:
        return
    if scale.get('enable', False):
        what = (f'learning rates are scaled by {total}/{ref} '
                '(auto_scale_lr.enable=True)')
    else:
        what = ("learning rates are the config's, not scaled (pass "
                '--auto-scale-lr to scale them linearly)')
    _log(f'total batch {total} differs from the reference {ref} '
         f'(auto_scale_lr.base_batch_size); {what}', logging.WARNING)


def setup_launcher(cfg: Config) -> None:
    """Adapt ``cfg`` to the machine and initialise the process group.

    ``cfg.launcher`` ('none', 'pytorch', 'slurm' or 'mpi') must be set.

    - CPU only: SyncBN -> BN (SyncBN needs GPU modules), and under a
      launcher the gloo backend, DDP with ``device_ids=None``
      (``broadcast_buffers=False``, ``find_unused_parameters`` from the
      config) and ``SyncNormBuffersHook`` (BN running statistics averaged
      over the ranks after every iteration).
    - GPU: under a launcher the nccl backend and ``sync_bn='torch'`` (BN
      layers become SyncBN; a config's own ``sync_bn`` wins).
    - ``cfg.auto_device = False`` leaves the config as it is.

    Under a launcher the process group is then initialised with
    ``env_cfg.dist_cfg`` (``backend``, and ``timeout`` in seconds: how long
    a collective waits for a missing rank before it fails; torch's default
    is 30 minutes), before any Runner exists: mmengine's own initialisation
    calls ``torch.cuda.set_device``, which CPU builds of torch lack, and the
    step scheduler synchronises ranks before its first Runner.

    What it changes is logged, one line each, then the total batch
    (:func:`check_batch`).

    Args:
        cfg (Config): the full config; changed in place.
    """
    launcher = cfg.get('launcher', 'none')
    changes = []
    if cfg.get('auto_device', True):
        gpu = torch.cuda.is_available()
        where = 'CUDA' if gpu else 'CPU only'
        changes = [f'launcher {launcher} ({where}): {change}' for change in
                   (_setup_gpu if gpu else _setup_cpu)(cfg, launcher)]
    if launcher != 'none':
        init_distributed(launcher, (cfg.get('env_cfg') or {}).get(
            'dist_cfg') or {})
    for change in changes:
        _log(change)
    check_batch(cfg)


def _rank_env_cpu(launcher: str) -> None:
    """RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/PORT from the launcher's
    own variables (torchrun sets them itself)."""
    env = os.environ
    if launcher == 'slurm':
        env['RANK'] = env['SLURM_PROCID']
        env['WORLD_SIZE'] = env['SLURM_NTASKS']
        env['LOCAL_RANK'] = env.get('SLURM_LOCALID', '0')
        if 'MASTER_ADDR' not in env:
            nodes = env['SLURM_NODELIST']
            env['MASTER_ADDR'] = subprocess.getoutput(
                f'scontrol show hostname {nodes} | head -n1')
        env.setdefault('MASTER_PORT', '29500')
    elif launcher == 'mpi':
        env['RANK'] = env['OMPI_COMM_WORLD_RANK']
        env['WORLD_SIZE'] = env['OMPI_COMM_WORLD_SIZE']
        env['LOCAL_RANK'] = env.get('OMPI_COMM_WORLD_LOCAL_RANK', '0')
        if 'MASTER_ADDR' not in env:
            raise KeyError('--launcher mpi: set MASTER_ADDR to the address '
                           'of the rank-0 host')
        env.setdefault('MASTER_PORT', '29500')
    for key in ('RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT'):
        if key not in env:
            raise KeyError(f'--launcher {launcher}: the environment variable '
                           f'{key} is not set; start the tool with torchrun '
                           '(tools/dist_train.sh) or srun '
                           '(tools/slurm_train.sh)')


def init_distributed(launcher: str, dist_cfg: dict) -> None:
    """Initialise the default process group once (no-op if it exists).

    Args:
        launcher (str): 'pytorch', 'slurm' or 'mpi'.
        dist_cfg (dict): ``env_cfg.dist_cfg``: ``backend`` (default nccl),
            ``timeout`` in seconds, other ``init_process_group`` arguments.
    """
    if dist.is_available() and dist.is_initialized():
        return
    if launcher not in ('pytorch', 'slurm', 'mpi'):
        raise ValueError(f"--launcher: expected 'none', 'pytorch', 'slurm' "
                         f"or 'mpi', got {launcher!r}")
    kwargs = dict(dist_cfg)
    backend = kwargs.pop('backend', 'nccl')
    if torch.cuda.is_available():
        from mmengine.dist import init_dist  # also sets the CUDA device
        init_dist(launcher, backend=backend, **kwargs)
        return
    timeout = kwargs.pop('timeout', None)
    if timeout is not None:
        kwargs['timeout'] = datetime.timedelta(seconds=float(timeout))
    _rank_env_cpu(launcher)
    dist.init_process_group(backend=backend, **kwargs)


def shutdown_distributed() -> None:
    """Destroy the default process group if there is one."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def run_tool(main: Callable[[], None], debug: bool = False) -> int:
    """Run a tool's ``main`` and return its exit status.

    A user error (``ValueError``, ``FileNotFoundError``, ``KeyError``,
    ``TypeError``) is printed as one line ``error: ...``; any other
    exception with its traceback, then that line. Under a launcher the line names the rank
    (``error: rank 1/2: ...``). The process group is destroyed in every
    case, so that ranks still waiting in a collective for this one fail at
    once instead of waiting for the collective's timeout.

    Args:
        main (callable): the tool's main function.
        debug (bool): re-raise user errors (show their traceback).

    Returns:
        int: 0 on success, 1 on error.
    """
    code = 0
    try:
        main()
    except BaseException as e:  # noqa: B902  (also KeyboardInterrupt)
        if debug and isinstance(e, USER_ERRORS):
            shutdown_distributed()
            raise
        if isinstance(e, SystemExit):
            shutdown_distributed()
            raise
        if not isinstance(e, USER_ERRORS):
            traceback.print_exc()
        where = ''
        if dist.is_available() and dist.is_initialized():
            where = f'rank {dist.get_rank()}/{dist.get_world_size()}: '
        name = '' if isinstance(e, USER_ERRORS) else f'{type(e).__name__}: '
        # a DataLoader worker's error: its own message, which names the file
        from cisseg.utils import error_message
        msg = error_message(e).strip().splitlines()
        print(f'error: {where}{name}{msg[0] if msg else type(e).__name__}',
              file=sys.stderr, flush=True)
        code = 1
    shutdown_distributed()
    return code
