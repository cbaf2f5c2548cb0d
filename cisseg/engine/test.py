"""Test one step of a run with the same config path as training uses."""
import os.path as osp
import re
import time
from typing import Optional, Tuple

from mmengine.config import Config
from mmengine.runner import Runner

from cisseg.utils import path_inside, read_json
from .checkpoint import checkpoint_meta
from .runner_utils import release_runner
from .step_scheduler import METRICS_FILE, StepScheduler


def resolve_checkpoint(scheduler: StepScheduler, path: str,
                       step: Optional[int]) -> Tuple[str, int]:
    """(checkpoint, step) from a run dir + step, or from a checkpoint."""
    if osp.isdir(path):
        metrics = osp.join(path, 'metrics.json')
        if not osp.exists(metrics):
            raise FileNotFoundError(f'{metrics}: not found; is {path} the '
                                    'work dir of a cisseg run?')
        data = read_json(metrics, 'metrics file')
        try:
            steps = {e['step']: e for e in data['steps']}
        except (KeyError, TypeError) as e:
            raise ValueError(f'{metrics}: not a cisseg metrics file') from e
        if step is None:
            step = max(steps)
        if step not in steps:
            last = scheduler.protocol.num_steps - 1
            if not 0 <= step <= last:
                raise ValueError(f'--step {step}: the protocol has steps '
                                 f'0..{last}')
            raise ValueError(f'{metrics}: step {step} is not finished '
                             f'(finished: {sorted(steps)})')
        return path_inside(path, steps[step]['checkpoint'],
                           f"{metrics}: step {step}'s checkpoint"), step
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path}: no such checkpoint or work dir')
    meta = checkpoint_meta(path)
    own = meta.get('cisseg', {}).get('step')
    if step is None:
        if own is None:
            raise ValueError(f'{path}: not a cisseg checkpoint; pass --step')
        step = own
    return path, step


def run_dir(path: str) -> Optional[str]:
    """The work dir of the run ``path`` belongs to: ``path`` itself for a
    folder, ``WORK_DIR`` for a checkpoint ``WORK_DIR/step_<t>/*.pth`` of a
    run (``metrics.json`` beside ``step_<t>/``); None for a checkpoint
    outside a run."""
    if osp.isdir(path):
        return path
    step_dir = osp.dirname(osp.abspath(path))
    parent = osp.dirname(step_dir)
    if re.fullmatch(r'step_\d+', osp.basename(step_dir)) and \
            osp.isfile(osp.join(parent, METRICS_FILE)):
        return parent
    return None


def step_test_config(scheduler: StepScheduler, checkpoint: str, step: int,
                     work_dir: Optional[str] = None) -> Config:
    """The config that evaluates ``checkpoint`` as step ``step`` of the
    scheduler's protocol: the step's own config without its training
    parts, logs in ``work_dir`` (default ``WORK_DIR/step_<t>/test``)."""
    scheduler.check_checkpoint(checkpoint, step)
    cfg = scheduler.config_for_step(step, checkpoint, test_only=True)
    cfg.work_dir = work_dir or osp.join(scheduler.step_dir(step), 'test')
    cfg.experiment_name = f'test_step{step}_{time.strftime("%Y%m%d_%H%M%S")}'
    for key in ('train_dataloader', 'train_cfg', 'optim_wrapper',
                'param_scheduler', 'val_dataloader', 'val_cfg',
                'val_evaluator'):
        cfg.pop(key, None)
    return cfg


def test_step(scheduler: StepScheduler, path: str, step: Optional[int],
              work_dir: Optional[str] = None) -> Tuple[dict, int]:
    """Evaluate ``step`` on val; returns (metrics, step)."""
    checkpoint, step = resolve_checkpoint(scheduler, path, step)
    runner = Runner.from_cfg(
        step_test_config(scheduler, checkpoint, step, work_dir))
    metrics = runner.test()
    release_runner(runner)
    return metrics, step
