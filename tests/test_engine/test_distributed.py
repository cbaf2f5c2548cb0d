"""Distributed training on CPU processes: gloo, torchrun, one process group
for all steps of a protocol.

The end-to-end tests start ``python -m torch.distributed.run`` from the
interpreter running the tests (the project's .venv) with 2 processes.
"""
import json
import os
import os.path as osp
import socket
import subprocess
import sys
import textwrap
import time

import pytest
import torch

from cisseg.engine import StepScheduler, load_config
from cisseg.engine import launch
from cisseg.engine.checkpoint import safe_load
from cisseg.models.utils import FeatureStatistics
from tests.conftest import REPO

DEMO = osp.join(REPO, 'configs', 'demo', 'star-basic_shapes-15-1-overlap.py')

# Identical on both runs compared below: a 2-step protocol, 3 + 2
# iterations, no random flip, BN statistics and dropout frozen at every step
# (STAR freezes them at t > 0 anyway), so that 2 ranks x batch 2 and 1
# process x batch 4 see the same 4 images per iteration through the same
# network function.
COMMON = {
    'incremental.task': '15-5',
    'train_cfg.max_iters': 3,
    'incremental.step_overrides.inc.train_cfg.max_iters': 2,
    'default_hooks.logger.interval': 1,
    'model.freeze_bn': True,
    'model.freeze_dropout': True,
    'train_dataloader.dataset.dataset.pipeline.2.prob': 0.0,
}
COMMON_OPTIONS = [f'{k}={v}' for k, v in COMMON.items()]

# Hooks for the test runs only, imported by the runs' config
# (custom_imports) from a module written to the test's tmp dir.
TEST_HOOKS = '''
import os.path as osp

import torch
from mmengine.dist import get_rank
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmseg.registry import HOOKS


@HOOKS.register_module()
class DumpStateHook(Hook):
    """Save each rank's state dict at the start and end of a step."""
    priority = 'LOWEST'

    def _dump(self, runner, name):
        model = runner.model.module if is_model_wrapper(runner.model) \\
            else runner.model
        torch.save({k: v.detach().cpu().clone()
                    for k, v in model.state_dict().items()},
                   osp.join(runner.work_dir, f'{name}_rank{get_rank()}.pth'))

    def before_train(self, runner):
        self._dump(runner, 'start')

    def after_train(self, runner):
        self._dump(runner, 'end')


@HOOKS.register_module()
class FailOnRankHook(Hook):
    """Raise on one rank before one iteration of one step."""

    def __init__(self, rank, iter, step):
        self.rank, self.iter, self.step = rank, iter, step

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if get_rank() == self.rank and runner.iter == self.iter and \\
                osp.basename(runner.work_dir) == f'step_{self.step}':
            raise RuntimeError(f'test failure on rank {self.rank} at '
                               f'iteration {self.iter}')
'''

# FeatureStatistics.all_reduce and SyncNormBuffersHook on 2 gloo ranks.
REDUCE_WORKER = '''
import sys
from types import SimpleNamespace

import torch
import torch.distributed as dist

from cisseg.engine.hooks import SyncNormBuffersHook
from cisseg.models.utils import FeatureStatistics

out = sys.argv[1]
dist.init_process_group('gloo')
rank = dist.get_rank()
# by hand: rank 0 has cells (3, 4) of class 1 and (0, 2) of class 2,
# rank 1 has (6, 8) of class 1 and (1, 0) labelled 255 (skipped)
feat = [torch.tensor([[[[3., 0.]], [[4., 2.]]]]),
        torch.tensor([[[[6., 1.]], [[8., 0.]]]])][rank]
label = [torch.tensor([[[1, 2]]]), torch.tensor([[[1, 255]]])][rank]
hand = FeatureStatistics(3, 2)
hand.update(feat, label)
hand.all_reduce()
# random batches, rank r takes batches r, r + 2
torch.manual_seed(0)
batches = [(torch.randn(2, 8, 3, 3) * 3,
            torch.randint(0, 6, (2, 3, 3)).masked_fill_(
                torch.rand(2, 3, 3) < 0.2, 255)) for _ in range(4)]
rand = FeatureStatistics(5, 8)
for f, y in batches[rank::2]:
    rand.update(f, y)
rand.all_reduce()
# BN running statistics: each rank one batch of its own, then the hook
torch.manual_seed(10 + rank)
bn = torch.nn.BatchNorm1d(3)
bn(torch.randn(6, 3) * (1 + rank) + rank)
SyncNormBuffersHook().after_train_iter(SimpleNamespace(model=bn), 0)
torch.save(dict(hand=vars(hand), rand=vars(rand),
                entries=rand.finalize([0, 1, 2, 3, 4]),
                bn=(bn.running_mean, bn.running_var)),
           f'{out}/rank{rank}.pth')
dist.destroy_process_group()
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def run_env(*paths) -> dict:
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env['PYTHONPATH'] = os.pathsep.join(
        list(paths) + [REPO, env.get('PYTHONPATH', '')])
    return env


def torchrun(args, env, timeout):
    """``torchrun --nproc_per_node=2 ARGS`` -> (completed process, s)."""
    cmd = [sys.executable, '-m', 'torch.distributed.run',
           '--nproc_per_node=2', f'--master_port={free_port()}'] + args
    start = time.time()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    return proc, time.time() - start


# ----------------------------------------------------------- config choice
def test_setup_launcher_cpu(monkeypatch):
    calls = []
    monkeypatch.setattr(launch, 'init_distributed',
                        lambda *a: calls.append(a))
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = load_config(DEMO, {'model.backbone.norm_cfg.type': 'SyncBN',
                             'env_cfg.dist_cfg.timeout': 60})
    cfg.launcher = 'pytorch'
    launch.setup_launcher(cfg)
    assert cfg.model.backbone.norm_cfg.type == 'BN'
    assert cfg.env_cfg.dist_cfg == dict(backend='gloo', timeout=60)
    assert cfg.model_wrapper_cfg.device_ids is None
    assert cfg.model_wrapper_cfg.type == 'MMDistributedDataParallel'
    assert [h['type'] for h in cfg.custom_hooks] == [
        'PrototypeReplayHook', 'SyncNormBuffersHook']
    assert calls == [('pytorch', dict(backend='gloo', timeout=60))]
    # a single process: BN only, no process group
    cfg = load_config(DEMO, {'model.backbone.norm_cfg.type': 'SyncBN'})
    cfg.launcher = 'none'
    launch.setup_launcher(cfg)
    assert cfg.model.backbone.norm_cfg.type == 'BN'
    assert 'model_wrapper_cfg' not in cfg and len(calls) == 1


def test_setup_launcher_gpu_and_override(monkeypatch):
    calls = []
    monkeypatch.setattr(launch, 'init_distributed',
                        lambda *a: calls.append(a))
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    cfg = load_config(DEMO, {'model.backbone.norm_cfg.type': 'SyncBN'})
    cfg.launcher = 'slurm'
    launch.setup_launcher(cfg)
    assert cfg.model.backbone.norm_cfg.type == 'SyncBN'
    assert cfg.sync_bn == 'torch' and cfg.env_cfg.cudnn_benchmark is False
    assert cfg.env_cfg.dist_cfg.backend == 'nccl'
    assert 'model_wrapper_cfg' not in cfg
    # auto_device=False: the config as written (here: gloo on a GPU)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = load_config(DEMO, {'model.backbone.norm_cfg.type': 'SyncBN',
                             'auto_device': False})
    cfg.launcher = 'pytorch'
    launch.setup_launcher(cfg)
    assert cfg.model.backbone.norm_cfg.type == 'SyncBN'
    assert cfg.env_cfg.cudnn_benchmark is False
    assert 'model_wrapper_cfg' not in cfg
    assert calls[-1] == ('pytorch', dict(backend='nccl'))


def test_slurm_variables_on_cpu(monkeypatch):
    for key, value in dict(SLURM_PROCID='3', SLURM_NTASKS='4',
                           SLURM_LOCALID='1', SLURM_NODELIST='n[1-2]',
                           MASTER_ADDR='10.0.0.1').items():
        monkeypatch.setenv(key, value)
    for key in ('RANK', 'WORLD_SIZE', 'LOCAL_RANK', 'MASTER_PORT'):
        monkeypatch.delenv(key, raising=False)
    launch._rank_env_cpu('slurm')
    assert (os.environ['RANK'], os.environ['WORLD_SIZE'],
            os.environ['LOCAL_RANK'], os.environ['MASTER_PORT']) == (
                '3', '4', '1', '29500')
    monkeypatch.delenv('MASTER_ADDR')
    monkeypatch.setenv('OMPI_COMM_WORLD_RANK', '0')
    monkeypatch.setenv('OMPI_COMM_WORLD_SIZE', '2')
    with pytest.raises(KeyError, match='MASTER_ADDR'):
        launch._rank_env_cpu('mpi')


def test_run_tool_errors(capsys):
    assert launch.run_tool(lambda: None) == 0

    def user_error():
        raise ValueError('cfg.x: expected 1, got 2')

    def bug():
        raise RuntimeError('boom\nsecond line')

    assert launch.run_tool(user_error) == 1
    err = capsys.readouterr().err
    assert err == 'error: cfg.x: expected 1, got 2\n'
    assert launch.run_tool(bug) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[0] == 'Traceback (most recent call last):'
    assert err[-1] == 'error: RuntimeError: boom'
    with pytest.raises(ValueError):
        launch.run_tool(user_error, debug=True)


# ------------------------------------------------------ all-reduced sums
def test_feature_statistics_all_reduce_equals_one_process(tmp_path):
    script = tmp_path / 'reduce_worker.py'
    script.write_text(REDUCE_WORKER)
    proc, _ = torchrun([str(script), str(tmp_path)], run_env(), 120)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    ranks = [torch.load(tmp_path / f'rank{r}.pth', weights_only=False)
             for r in (0, 1)]

    # by hand: class 1 cells (3, 4) and (6, 8): unit (0.6, 0.8) twice,
    # norms 5 and 10; class 2 one cell (0, 2); nothing of class 0
    for res in ranks:
        hand = res['hand']
        assert hand['count'].tolist() == [0, 2, 1]
        assert torch.allclose(hand['sum'][1], torch.tensor(
            [1.2, 1.6], dtype=torch.float64))
        assert hand['norm_sum'].tolist() == [0, 15, 2]
        assert hand['norm_sq_sum'].tolist() == [0, 125, 4]
    stats = FeatureStatistics(3, 2)
    for k, v in ranks[0]['hand'].items():
        setattr(stats, k, v)
    e = stats.finalize([1, 2])
    assert torch.allclose(e[1]['prototype'], torch.tensor([0.6, 0.8]))
    assert torch.allclose(e[1]['noise'], torch.zeros(2), atol=1e-6)
    assert e[1]['norm_mean'] == pytest.approx(7.5)
    assert e[1]['norm_std'] == pytest.approx(12.5**0.5)  # (2.5² * 2) / 1
    assert e[2]['count'] == 1 and e[2]['norm_std'] == 0

    # random batches: two ranks (batches 0, 2 and 1, 3) == one process
    torch.manual_seed(0)
    batches = [(torch.randn(2, 8, 3, 3) * 3,
                torch.randint(0, 6, (2, 3, 3)).masked_fill_(
                    torch.rand(2, 3, 3) < 0.2, 255)) for _ in range(4)]
    single = FeatureStatistics(5, 8)
    for f, y in batches:
        single.update(f, y)
    want = single.finalize(range(5))
    for res in ranks:
        assert torch.equal(res['rand']['count'], single.count)
        assert single.count.sum() > 0 and single.count[0] > 0
        for key in ('sum', 'sq_sum', 'norm_sum', 'norm_sq_sum'):
            assert torch.allclose(res['rand'][key], getattr(single, key),
                                  rtol=1e-12, atol=1e-12)
        assert sorted(res['entries']) == sorted(want)
        for c, entry in want.items():
            for key, value in entry.items():
                got = res['entries'][c][key]
                if torch.is_tensor(value):
                    assert torch.allclose(got, value, atol=1e-6)
                else:
                    assert got == pytest.approx(value, rel=1e-12)

    # SyncNormBuffersHook: the ranks hold the mean of their statistics
    local = []
    for r in (0, 1):
        torch.manual_seed(10 + r)
        bn = torch.nn.BatchNorm1d(3)
        bn(torch.randn(6, 3) * (1 + r) + r)
        local.append((bn.running_mean, bn.running_var))
    assert not torch.allclose(local[0][0], local[1][0])
    for res in ranks:
        for i in (0, 1):
            assert torch.allclose(res['bn'][i],
                                  (local[0][i] + local[1][i]) / 2)


# ----------------------------------------------------------- end to end
@pytest.fixture(scope='module')
def test_config(tmp_path_factory):
    """A leaf config over the STAR-Basic demo that imports the test hooks
    (custom_imports are imported when the config file is loaded)."""
    folder = tmp_path_factory.mktemp('dist_cfg')
    (folder / 'dist_test_hooks.py').write_text(TEST_HOOKS)
    cfg = folder / 'star_dist.py'
    cfg.write_text(textwrap.dedent(f'''\
        _base_ = [{DEMO!r}]
        custom_imports = dict(imports=['cisseg', 'dist_test_hooks'],
                              allow_failed_imports=False)
        '''))
    return str(folder), str(cfg)


@pytest.fixture(scope='module')
def ddp_run(tiny_voc, test_config, tmp_path_factory):
    """torchrun 2 processes x batch 2, and one process x batch 4."""
    folder, cfg = test_config
    work = str(tmp_path_factory.mktemp('dist') / 'ddp')
    options = COMMON_OPTIONS + [
        f'data_root={tiny_voc}', 'train_dataloader.batch_size=2',
        'default_hooks.dump.type=DumpStateHook'
    ]
    proc, ddp_s = torchrun(
        [osp.join(REPO, 'tools', 'train.py'), cfg, '--launcher', 'pytorch',
         '--work-dir', work, '--cfg-options'] + options,
        run_env(folder), 240)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    single = str(tmp_path_factory.mktemp('dist') / 'single')
    sys.path.insert(0, folder)  # the test hooks, for this process too
    try:
        start = time.time()
        scfg = load_config(cfg, {
            **COMMON, 'data_root': tiny_voc, 'work_dir': single,
            'train_dataloader.batch_size': 4,
            'default_hooks.dump.type': 'DumpStateHook'})
        scfg.launcher = 'none'
        launch.setup_launcher(scfg)
        StepScheduler(scfg).run()
        single_s = time.time() - start
    finally:
        sys.path.remove(folder)
    print(f'\nwall time: torchrun 2 processes {ddp_s:.1f} s, one process '
          f'{single_s:.1f} s (in the test process, no start-up)')
    return work, single


def _state(work, step, name, rank):
    return torch.load(osp.join(work, f'step_{step}', f'{name}_rank{rank}.pth'))


def _flat(state):
    return torch.cat([v.double().flatten() for k, v in sorted(state.items())
                      if v.is_floating_point()])


def test_ranks_hold_equal_parameters(ddp_run):
    work, _ = ddp_run
    for step in (0, 1):
        for name in ('start', 'end'):
            a, b = (_state(work, step, name, r) for r in (0, 1))
            assert a.keys() == b.keys()
            for key in a:
                assert torch.equal(a[key], b[key]), (step, name, key)
        # the step's checkpoint is rank 0's model
        with open(osp.join(work, 'metrics.json')) as f:
            ckpt = json.load(f)['steps'][step]['checkpoint']
        saved = safe_load(osp.join(work, ckpt))
        end = _state(work, step, 'end', 0)
        assert all(torch.equal(saved['state_dict'][k], end[k]) for k in end)
    assert not torch.equal(_flat(_state(work, 0, 'start', 0)),
                           _flat(_state(work, 0, 'end', 0)))


def test_two_processes_match_one_process(ddp_run):
    """2 ranks x batch 2 against 1 process x batch 4 (same images each
    iteration, same start weights at step 0).

    Not bit-equal: each rank normalises its losses by its own half of the
    batch (valid pixels around the 255 outlines, OCFM's mask area, SAD's
    classes present) and draws its own replayed prototype features, so the
    DDP gradient (mean of per-rank means) differs from the batch-4 gradient
    by a few percent. Measured: the weight updates differ by 1.2% (step 0)
    and 3.0% (step 1) of their norm; bound 10%. Metrics: step 0 equal,
    step 1 within 0.07 (summaries) and 0.32 (per class) IoU points; bounds
    0.5 and 1.5.
    """
    work, single = ddp_run
    a0, s0 = _state(work, 0, 'start', 0), _state(single, 0, 'start', 0)
    assert all(torch.equal(a0[k], s0[k]) for k in a0)
    for step in (0, 1):
        d_ddp = _flat(_state(work, step, 'end', 0)) - \
            _flat(_state(work, step, 'start', 0))
        d_one = _flat(_state(single, step, 'end', 0)) - \
            _flat(_state(single, step, 'start', 0))
        rel = float((d_ddp - d_one).norm() / d_one.norm())
        print(f'step {step}: weight updates differ by {rel:.4f} of norm')
        assert rel < 0.1
    with open(osp.join(work, 'metrics.json')) as f:
        ddp = json.load(f)
    with open(osp.join(single, 'metrics.json')) as f:
        one = json.load(f)
    assert ddp['protocol'] == one['protocol']
    for e, o in zip(ddp['steps'], one['steps']):
        assert (e['step'], e['classes'], e['train_images'],
                e['replay_bytes']) == (o['step'], o['classes'],
                                       o['train_images'], o['replay_bytes'])
        for key in ('mIoU_base', 'mIoU_inc', 'mIoU_all', 'hIoU'):
            if o[key] is None:
                assert e[key] is None
            else:
                assert e[key] == pytest.approx(o[key], abs=0.5), key
        assert e['per_class'].keys() == o['per_class'].keys()
        for name, iou in o['per_class'].items():
            if iou is not None:
                assert e['per_class'][name] == pytest.approx(iou, abs=1.5)
        print(f"step {e['step']}: mIoU_all {e['mIoU_all']:.4f} (2 ranks) "
              f"vs {o['mIoU_all']:.4f} (1 process)")


def test_distributed_test_equals_one_process(star_run, tiny_voc, tmp_path):
    """The same weights, models that segment some foreground (star_run
    asserts it): metrics.json (evaluated in one process at the end of
    training) == one process evaluating the step's checkpoint again ==
    tools/test.py on 2 ranks started as Slurm would (SLURM_* variables,
    --launcher slurm)."""
    from cisseg.engine.test import test_step
    from tests.conftest import STAR_LEARNED, learned_cfg
    work, data = star_run
    entry = data['steps'][1]
    sched = StepScheduler(learned_cfg(tiny_voc, work))
    metrics, step = test_step(sched, work, 1,
                              work_dir=str(tmp_path / 'test_one'))
    assert step == 1
    keys = ('mIoU_base', 'mIoU_inc', 'mIoU_all', 'hIoU')
    for key in keys:
        assert metrics[key] == pytest.approx(entry[key], abs=1e-9)

    out = str(tmp_path / 'test_slurm.json')
    env = run_env()
    env.update(SLURM_NTASKS='2', SLURM_NODELIST='localhost',
               MASTER_ADDR='127.0.0.1', MASTER_PORT=str(free_port()))
    procs = []
    for rank in (0, 1):
        procs.append(subprocess.Popen(
            [sys.executable, osp.join(REPO, 'tools', 'test.py'), DEMO, work,
             '--step', '1', '--launcher', 'slurm', '--metrics', out,
             '--work-dir', str(tmp_path / 'test_slurm'), '--cfg-options',
             f'data_root={tiny_voc}'] +
            [f'{k}={v}' for k, v in STAR_LEARNED.items()],
            env=dict(env, SLURM_PROCID=str(rank), SLURM_LOCALID=str(rank)),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    logs = [p.communicate(timeout=180)[0] for p in procs]
    assert [p.returncode for p in procs] == [0, 0], logs[0][-2000:] + \
        logs[1][-2000:]
    with open(out) as f:
        got = json.load(f)
    assert got['step'] == 1
    for key in keys:
        assert got[key] == pytest.approx(entry[key], abs=1e-9)


# Starts tools/train.py's main under run_tool as its __main__ block does;
# rank 1 then stays alive (LINGER s), as a rank does under a launcher that
# does not end the others (srun, mpirun) or that is slow to exit.
LINGERING_RANK = '''
import importlib.util
import os
import sys
import time

train = sys.argv[1]
sys.argv = [train] + sys.argv[2:]
spec = importlib.util.spec_from_file_location('cisseg_train_tool', train)
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)
from cisseg.engine.launch import run_tool
code = run_tool(tool.main)
with open(os.environ['RETURNED'] + os.environ['RANK'], 'w') as f:
    f.write(f'{code} {time.time()}')
if os.environ['RANK'] == '1':
    time.sleep(float(os.environ['LINGER']))
sys.exit(code)
'''


def test_failing_rank_ends_the_launch(tiny_voc, test_config, tmp_path):
    """Rank 1 raises before iteration 2 of step 0 and reports it in one
    line; rank 0, blocked in an all-reduce, reads the failure from the
    store (PeerFailureWatch), says so in one line and ends at once, while
    rank 1's process lives on and the collective timeout is 300 s; nothing
    is recorded. (Destroying rank 1's process group does not end rank 0's
    collective: without the watch, rank 0 waits for rank 1's exit.)"""
    folder, cfg = test_config
    work = str(tmp_path / 'fail')
    script = tmp_path / 'lingering_rank.py'
    script.write_text(LINGERING_RANK)
    options = COMMON_OPTIONS + [
        f'data_root={tiny_voc}', 'train_dataloader.batch_size=2',
        'default_hooks.fail.type=FailOnRankHook', 'default_hooks.fail.rank=1',
        'default_hooks.fail.iter=2', 'default_hooks.fail.step=0',
        'env_cfg.dist_cfg.timeout=300'
    ]
    returned = str(tmp_path / 'returned')
    env = dict(run_env(folder), WORLD_SIZE='2', MASTER_ADDR='127.0.0.1',
               MASTER_PORT=str(free_port()), LINGER='90', RETURNED=returned)
    procs = [subprocess.Popen(
        [sys.executable, str(script), osp.join(REPO, 'tools', 'train.py'),
         cfg, '--launcher', 'pytorch', '--work-dir', work, '--cfg-options'] +
        options, env=dict(env, RANK=str(r), LOCAL_RANK=str(r)),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for r in (0, 1)]
    try:
        out0 = procs[0].communicate(timeout=150)[0]
        ended0 = time.time()
        for _ in range(60):  # rank 1 reports its error, then lingers
            if osp.exists(returned + '1'):
                break
            time.sleep(0.5)
        alive1 = procs[1].poll() is None
    finally:
        for p in procs:
            p.kill()
    out1 = procs[1].communicate()[0]
    assert alive1, out0[-2000:] + out1[-2000:]
    assert procs[0].returncode == 1, out0[-3000:]
    assert 'error: rank 1/2: RuntimeError: test failure on rank 1 at ' \
        'iteration 2' in out1.splitlines()
    assert 'error: rank 0/2: ending, rank 1 failed: RuntimeError: test ' \
        'failure on rank 1 at iteration 2' in out0.splitlines()
    with open(returned + '1') as f:
        code1, time1 = f.read().split()
    assert code1 == '1'
    print(f'\nrank 0 ended {ended0 - float(time1):.1f} s from rank 1\'s '
          'error')
    assert ended0 - float(time1) < 30
    assert not osp.exists(osp.join(work, 'metrics.json'))
