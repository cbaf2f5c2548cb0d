"""No silent config changes: what the launcher changes is logged, and the
total batch is checked against the papers' (auto_scale_lr)."""
import logging
import os.path as osp
import sys

import pytest
import torch

import cisseg.engine
from cisseg.engine import StepScheduler, launch, load_config
from cisseg.engine.launch import run_tool
from tests.conftest import REPO, load_script
from tests.test_tools.conftest import LEAF

PAPER = osp.join(REPO, 'configs', 'star',
                 'star-basic_deeplabv3-r101_1xb24_voc-15-1-overlap-512x512.py')
TRAIN = osp.join(REPO, 'tools', 'train.py')


@pytest.fixture
def logged(monkeypatch):
    """The (message, level) lines the launcher logs; no process group."""
    lines = []
    monkeypatch.setattr(launch, '_log', lambda msg, level=logging.INFO:
                        lines.append((msg, level)))
    monkeypatch.setattr(launch, 'init_distributed', lambda *a: None)
    return lines


def test_cpu_changes_are_logged(logged, monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = load_config(PAPER)  # SyncBN in the backbone and the head
    cfg.launcher = 'none'
    launch.setup_launcher(cfg)
    n = str(cfg.model).count("'BN'")
    assert n >= 2 and 'SyncBN' not in str(cfg.model)
    assert logged == [
        (f'launcher none (CPU only): model: SyncBN -> BN in {n} norm '
         'config(s) (SyncBN needs CUDA)', logging.INFO),
        ('batch: 24 per process x 1 process(es) = 24', logging.INFO)]


def test_gpu_changes_are_logged(logged, monkeypatch):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cfg = load_config(PAPER)
    cfg.launcher = 'pytorch'
    launch.setup_launcher(cfg)
    msgs = [m for m, _ in logged]
    assert msgs[:2] == [
        'launcher pytorch (CUDA): env_cfg.dist_cfg.backend = nccl',
        "launcher pytorch (CUDA): sync_bn = 'torch' (every BN layer "
        'becomes SyncBN)']
    # cuDNN autotuning as the config says (off, the authors' setting)
    assert cfg.env_cfg.cudnn_benchmark is False and cfg.sync_bn == 'torch'


@pytest.mark.parametrize('batch, enable, expected', [
    (8, False, None),
    (4, False, "total batch 4 differs from the reference 8 "
     "(auto_scale_lr.base_batch_size); learning rates are the config's, "
     'not scaled (pass --auto-scale-lr to scale them linearly)'),
    (4, True, 'total batch 4 differs from the reference 8 '
     '(auto_scale_lr.base_batch_size); learning rates are scaled by 4/8 '
     '(auto_scale_lr.enable=True)'),
])
def test_total_batch_against_the_reference(logged, batch, enable, expected):
    cfg = load_config(LEAF, {'train_dataloader.batch_size': batch,
                             'auto_scale_lr.enable': enable})
    launch.check_batch(cfg)
    assert logged[0] == (f'batch: {batch} per process x 1 process(es) = '
                         f'{batch}', logging.INFO)
    warnings = [m for m, level in logged if level == logging.WARNING]
    assert warnings == ([] if expected is None else [expected])


def test_auto_scale_lr_flag(monkeypatch, tiny_voc, tmp_path):
    """--auto-scale-lr turns mmengine's auto_scale_lr on; each step's
    Runner then scales its learning rates (here 0.05 x 4 / 8)."""
    tool = load_script(TRAIN)
    used = {}

    class Capture:

        def __init__(self, cfg, **kwargs):
            used['cfg'] = cfg

        def run(self):
            pass

    monkeypatch.setattr(cisseg.engine, 'StepScheduler', Capture)
    monkeypatch.setattr(sys, 'argv', [
        TRAIN, LEAF, '--work-dir', str(tmp_path), '--auto-scale-lr',
        '--cfg-options', 'train_dataloader.batch_size=4',
        f'data_root={tiny_voc}'])
    assert run_tool(tool.main) == 0
    cfg = used['cfg']
    assert cfg.auto_scale_lr == dict(enable=True, base_batch_size=8)
    from mmengine.runner import Runner
    runner = Runner.from_cfg(StepScheduler(cfg).config_for_step(0))
    optim = runner.build_optim_wrapper(runner.optim_wrapper)
    runner.scale_lr(optim, runner.auto_scale_lr)
    assert optim.optimizer.param_groups[0]['lr'] == pytest.approx(0.05 / 2)
