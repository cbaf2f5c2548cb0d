"""Fixtures of the engine tests: runs of ``tools/train.py`` that a test-only
module kills at chosen points (shared by the reliability and exemplar-memory
tests).
"""
import os
import os.path as osp
import subprocess
import sys

import pytest

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
