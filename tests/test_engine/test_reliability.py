"""Interrupt safety and determinism of whole runs (real subprocesses).

A run of ``tools/train.py`` is killed with SIGKILL at chosen points (a
test-only module imported through ``custom_imports`` kills its own process
there), then restarted with ``--resume``. It must end with the steps of an
uninterrupted run and leave no file that does not load.
"""
import glob
import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from cisseg.datasets import ensure_synthetic_voc, generate_synthetic_voc
from cisseg.engine import StepScheduler
from cisseg.engine.checkpoint import safe_load
from cisseg.models.utils import PrototypeBank
from tests.conftest import REPO

DEMO = osp.join(REPO, 'configs', 'demo', 'star-basic_shapes-15-1-overlap.py')

# Imported by the child through custom_imports; CISSEG_TEST_KILL says where
# to die: 'iter:S:N' after training iteration N of step S (before its
# checkpoint is saved), 'save:REL' when the file REL (relative to the work
# dir) is renamed into place (its temp file fully written),
# 'proto:S' after the first batch of step S's prototype pass.
KILL_SWITCH = '''
import os
import os.path as osp
import signal

from mmengine.runner import Runner

import cisseg.engine.hooks.prototype_replay_hook as prh

KIND, _, ARG = os.environ.get('CISSEG_TEST_KILL', '').partition(':')


def die():
    os.kill(os.getpid(), signal.SIGKILL)


if KIND == 'iter':
    STEP, N = ARG.split(':')
    _call_hook = Runner.call_hook

    def call_hook(self, fn_name, **kwargs):
        if fn_name == 'after_train_iter' and self.iter + 1 == int(N) and \\
                osp.basename(self.work_dir) == 'step_' + STEP:
            die()
        return _call_hook(self, fn_name, **kwargs)

    Runner.call_hook = call_hook
elif KIND == 'save':
    _replace = os.replace

    def replace(src, dst, *args, **kwargs):
        if str(dst).endswith(os.sep + ARG):
            die()
        return _replace(src, dst, *args, **kwargs)

    os.replace = replace
elif KIND == 'proto':
    _iterate = prh.iterate_epoch

    def iterate_epoch(runner, desc):
        for i, batch in enumerate(_iterate(runner, desc)):
            if i == 1 and desc.startswith('step ' + ARG + ' prototypes'):
                die()
            yield batch

    prh.iterate_epoch = iterate_epoch
'''


@pytest.fixture(scope='module')
def kill_setup(tiny_voc, tmp_path_factory):
    """A config importing the kill switch, and the env to run it."""
    root = tmp_path_factory.mktemp('killcfg')
    with open(root / 'cisseg_test_kill.py', 'w') as f:
        f.write(KILL_SWITCH)
    cfg = root / 'star-basic_kill.py'
    with open(cfg, 'w') as f:
        f.write(f'_base_ = [{DEMO!r}]\n'
                "custom_imports = dict(imports=['cisseg', 'cisseg_test_kill'],"
                ' allow_failed_imports=False)\n')
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=os.pathsep.join([str(root), REPO]))
    options = [
        f'data_root={tiny_voc}', 'incremental.task=15-5',
        'train_cfg.max_iters=3',
        'incremental.step_overrides.inc.train_cfg.max_iters=3',
        'train_dataloader.batch_size=4', 'default_hooks.checkpoint.interval=1'
    ]
    return str(cfg), env, options


def train(setup, work_dir, kill=None, resume=False):
    cfg, env, options = setup
    env = dict(env)
    env.pop('CISSEG_TEST_KILL', None)
    if kill:
        env['CISSEG_TEST_KILL'] = kill
    cmd = [sys.executable, osp.join(REPO, 'tools', 'train.py'), cfg,
           '--work-dir', work_dir] + (['--resume'] if resume else []) + \
        ['--cfg-options'] + options
    proc = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True,
                          text=True, timeout=300)
    return proc.returncode, proc.stderr + proc.stdout


def check_files(work_dir):
    """Every file a later step reads loads; returns metrics.json (or None)."""
    for path in glob.glob(osp.join(work_dir, '**', '*.pth'), recursive=True):
        if osp.basename(path) == 'prototypes.pth':
            PrototypeBank.load(path)
        else:
            assert 'state_dict' in safe_load(path)  # cisseg's loader
    for path in glob.glob(osp.join(work_dir, '**', 'last_checkpoint'),
                          recursive=True):
        with open(path) as f:
            assert osp.isfile(f.read().strip())
    metrics = osp.join(work_dir, 'metrics.json')
    if not osp.exists(metrics):
        return None
    with open(metrics) as f:
        return json.load(f)


def steps_of(data):
    return [e['step'] for e in data['steps']] if data else []


def without_time(entry):
    """An entry without what differs between equal runs: the training
    time and the random ids of the step's training (``run.id``/``parent``)."""
    out = {k: v for k, v in entry.items() if k != 'train_seconds'}
    out['run'] = {k: v for k, v in entry['run'].items()
                  if k not in ('id', 'parent')}
    return out


@pytest.fixture(scope='module')
def reference(kill_setup, tmp_path_factory):
    work_dir = str(tmp_path_factory.mktemp('ref'))
    code, log = train(kill_setup, work_dir)
    assert code == 0, log
    return work_dir, check_files(work_dir)


@pytest.mark.slow
def test_killed_in_training_and_in_checkpoint_save(kill_setup, reference,
                                                   tmp_path):
    _, ref = reference
    work_dir = str(tmp_path / 'run')
    step1 = osp.join(work_dir, 'step_1')

    # 1. killed in step 1 after iteration 2, before its checkpoint
    code, log = train(kill_setup, work_dir, kill='iter:1:2')
    assert code == -9, log
    assert steps_of(check_files(work_dir)) == [0]
    assert osp.isfile(osp.join(step1, 'iter_1.pth'))
    assert not osp.exists(osp.join(step1, 'iter_2.pth'))

    # 2. resumed from iter_1, killed while iter_2.pth is being put in place
    code, log = train(kill_setup, work_dir, kill='save:step_1/iter_2.pth',
                      resume=True)
    assert code == -9, log
    assert 'Load checkpoint from ' + osp.join(step1, 'iter_1.pth') in log
    assert not osp.exists(osp.join(step1, 'iter_2.pth'))
    # the whole checkpoint was in a temp file: the write was atomic; and
    # the previous checkpoint is still there (SafeCheckpointHook)
    assert glob.glob(osp.join(step1, '.iter_2.pth.*.tmp'))
    assert osp.isfile(osp.join(step1, 'iter_1.pth'))
    assert steps_of(check_files(work_dir)) == [0]

    # 3. resumed again, finishes
    code, log = train(kill_setup, work_dir, resume=True)
    assert code == 0, log
    assert 'step 0: finished, skipped (--resume)' in log
    data = check_files(work_dir)
    assert steps_of(data) == steps_of(ref) == [0, 1]
    assert data['protocol'] == ref['protocol']
    # step 0 was never interrupted: the same numbers as the reference
    assert without_time(data['steps'][0]) == without_time(ref['steps'][0])
    assert set(data['steps'][1]) == set(ref['steps'][1])
    assert data['steps'][1]['checkpoint'] == 'step_1/iter_3.pth'
    # the second resume started from iter_1 again; old checkpoints and the
    # temp file of the cut save are gone
    assert 'Load checkpoint from ' + osp.join(step1, 'iter_1.pth') in log
    assert sorted(f for f in os.listdir(step1) if 'pth' in f) == [
        'iter_3.pth', 'prototypes.pth']
    bank = PrototypeBank.load(osp.join(step1, 'prototypes.pth'))
    assert bank.meta['step'] == 1


@pytest.mark.slow
def test_killed_in_prototype_pass(kill_setup, reference, tmp_path):
    ref_dir, ref = reference
    work_dir = str(tmp_path / 'run')
    code, log = train(kill_setup, work_dir, kill='proto:0')
    assert code == -9, log
    assert 'step 0 prototypes' in log
    assert check_files(work_dir) is None
    assert osp.isfile(osp.join(work_dir, 'step_0', 'iter_3.pth'))
    assert not osp.exists(osp.join(work_dir, 'step_0', 'prototypes.pth'))

    code, log = train(kill_setup, work_dir, resume=True)
    assert code == 0, log
    data = check_files(work_dir)
    # step 0 resumed from its last checkpoint (no training left), redid the
    # prototype pass: everything equals the uninterrupted run
    assert [without_time(e) for e in data['steps']] == \
        [without_time(e) for e in ref['steps']]
    for step in (0, 1):
        a = PrototypeBank.load(
            osp.join(work_dir, f'step_{step}', 'prototypes.pth'))
        b = PrototypeBank.load(
            osp.join(ref_dir, f'step_{step}', 'prototypes.pth'))
        assert a.class_ids == b.class_ids and a.bg_count == b.bg_count
        for c in a.class_ids:
            for key, value in a.classes[c].items():
                other = b.classes[c][key]
                assert torch.equal(value, other) if torch.is_tensor(value) \
                    else value == other


@pytest.mark.slow
def test_same_seed_same_metrics(star_run, tiny_voc, tmp_path):
    """A second run of star_run's config gives the same entries, on models
    that segment some foreground (star_run asserts it)."""
    from tests.conftest import learned_cfg
    _, a = star_run
    b = StepScheduler(learned_cfg(tiny_voc, str(tmp_path / 'b'))).run()
    assert len(a['steps']) == 2
    assert [without_time(e) for e in a['steps']] == \
        [without_time(e) for e in b['steps']]


def test_checkpoints_are_written_atomically(tmp_path):
    from mmengine.fileio import get_file_backend
    from mmengine.runner import save_checkpoint

    from cisseg.engine.checkpoint import AtomicLocalBackend
    assert isinstance(get_file_backend(str(tmp_path / 'x.pth')),
                      AtomicLocalBackend)
    path = str(tmp_path / 'iter_1.pth')
    save_checkpoint(dict(state_dict=dict(w=torch.ones(2))), path)
    assert torch.equal(torch.load(path)['state_dict']['w'], torch.ones(2))
    assert os.listdir(tmp_path) == ['iter_1.pth']  # no temp file left
    # same permissions as a plain open(): mkstemp's are 0600
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask


def test_interrupted_synthetic_generation_is_redone(tmp_path, monkeypatch):
    import cisseg.datasets.synthetic as synthetic
    root = str(tmp_path / 'shapes')
    calls = []
    imwrite = synthetic.cv2.imwrite

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return imwrite(*args, **kwargs)

    monkeypatch.setattr(synthetic.cv2, 'imwrite', interrupted)
    with pytest.raises(KeyboardInterrupt):
        ensure_synthetic_voc(root, num_train=6, num_val=2, size=32, seed=0)
    monkeypatch.setattr(synthetic.cv2, 'imwrite', imwrite)
    split = osp.join(root, 'ImageSets', 'Segmentation', 'train.txt')
    assert not osp.exists(split)
    ensure_synthetic_voc(root, num_train=6, num_val=2, size=32, seed=0)
    fresh = generate_synthetic_voc(str(tmp_path / 'fresh'), 6, 2, size=32,
                                   seed=0)
    for sub in ('JPEGImages', 'SegmentationClass'):
        names = sorted(os.listdir(osp.join(fresh, sub)))
        assert sorted(os.listdir(osp.join(root, sub))) == names
        for n in names:
            with open(osp.join(root, sub, n), 'rb') as f, \
                    open(osp.join(fresh, sub, n), 'rb') as g:
                assert f.read() == g.read()
    # a user's VOC-layout folder without the marker is left alone
    user = tmp_path / 'user'
    os.makedirs(user / 'ImageSets' / 'Segmentation')
    os.makedirs(user / 'JPEGImages')
    ensure_synthetic_voc(str(user), num_train=2, num_val=1, size=32)
    assert os.listdir(user / 'JPEGImages') == []
