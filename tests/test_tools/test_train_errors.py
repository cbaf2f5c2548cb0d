"""tools/train.py turns bad input into one line ``error: ...`` and exit 1.

Most cases call the tool's ``main`` in this process through the same
``run_tool`` wrapper as its ``__main__`` block; two run it as a real
subprocess (exit status, no traceback on stderr, traceback with --debug).
"""
import contextlib
import importlib.util
import io
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest
import torch

from cisseg.engine import StepScheduler
from cisseg.engine.launch import run_tool
from cisseg.models.utils import PrototypeBank
from tests.conftest import REPO
from tests.test_engine.test_step_scheduler import demo_cfg

TRAIN = osp.join(REPO, 'tools', 'train.py')


def demo(method):
    return osp.join(REPO, 'configs', 'demo',
                    f'{method}_shapes-15-1-overlap.py')


def options(data_root):
    return [
        f'data_root={data_root}', 'incremental.task=15-5',
        'train_cfg.max_iters=2',
        'incremental.step_overrides.inc.train_cfg.max_iters=2',
        'train_dataloader.batch_size=4'
    ]


@pytest.fixture(scope='module')
def train_tool():
    spec = importlib.util.spec_from_file_location('cisseg_tools_train', TRAIN)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_cli(train_tool, monkeypatch, *argv):
    """Run tools/train.py in this process; returns (exit code, stderr).

    (Not capsys: mmengine's loggers keep the stream they were created with,
    and capsys closes its streams after each test.)
    """
    monkeypatch.setattr(sys, 'argv', [TRAIN, *argv])
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = run_tool(train_tool.main, debug='--debug' in argv)
    return code, err.getvalue()


def one_error_line(err):
    """The single ``error: ...`` line of stderr (and no traceback)."""
    assert 'Traceback' not in err
    lines = [line for line in err.splitlines() if line.startswith('error:')]
    assert len(lines) == 1, err
    return lines[0]


@pytest.fixture(scope='module')
def step0_run(tiny_voc, tmp_path_factory):
    """A STAR-Basic run of the 15-5 protocol with step 0 finished."""
    work_dir = str(tmp_path_factory.mktemp('star0'))
    cfg = demo_cfg('star-basic', tiny_voc, work_dir)
    cfg.train_cfg.max_iters = 2
    data = StepScheduler(cfg, steps='0').run()
    return work_dir, data


def copy_run(step0_run, tmp_path):
    work_dir, data = step0_run
    copy = str(tmp_path / 'run')
    shutil.copytree(work_dir, copy)
    return copy, osp.join(copy, data['steps'][0]['checkpoint'])


def test_unknown_task(train_tool, monkeypatch, tiny_voc, tmp_path):
    code, err = run_cli(
        train_tool, monkeypatch, demo('finetune'), '--work-dir',
        str(tmp_path), '--cfg-options', *options(tiny_voc),
        'incremental.task=15-2')
    assert code == 1
    line = one_error_line(err)
    assert "incremental.task: unknown task '15-2' for voc" in line
    assert "'15-5'" in line  # says what was expected


@pytest.mark.parametrize('method, formulation, expected', [
    ('star-basic', 'softmax',
     "STARSegmentor needs decode_head.formulation='sigmoid'"),
    ('mib', 'sigmoid', "needs decode_head.formulation='softmax'"),
])
def test_method_with_the_wrong_head(train_tool, monkeypatch, tiny_voc,
                                    tmp_path, method, formulation, expected):
    # raised while the Runner builds the model
    code, err = run_cli(
        train_tool, monkeypatch, demo(method), '--work-dir',
        str(tmp_path), '--cfg-options', *options(tiny_voc),
        f'model.decode_head.formulation={formulation}')
    assert code == 1
    assert expected in one_error_line(err)


def test_background_init_with_sigmoid_fails_before_training(
        train_tool, monkeypatch, tiny_voc, tmp_path):
    # fine-tuning would only meet it at step 1, after training step 0
    code, err = run_cli(
        train_tool, monkeypatch, demo('finetune'), '--work-dir',
        str(tmp_path), '--cfg-options', *options(tiny_voc),
        'model.decode_head.formulation=sigmoid',
        'model.init_new_classifier=background')
    assert code == 1
    assert "init_new_classifier='background' (MiB) needs decode_head." \
        "formulation='softmax'" in one_error_line(err)
    assert not osp.exists(osp.join(str(tmp_path), 'step_0', 'iter_2.pth'))


@pytest.mark.parametrize('option, expected', [
    ('model.decode_head.no_such_option=1',
     "unexpected keyword argument 'no_such_option'"),
    ('model.type=NoSuchSegmentor',
     'NoSuchSegmentor is not in the mmseg::model registry'),
])
def test_errors_of_runner_building(train_tool, monkeypatch, tiny_voc,
                                   tmp_path, option, expected):
    code, err = run_cli(
        train_tool, monkeypatch, demo('finetune'), '--work-dir',
        str(tmp_path), '--cfg-options', *options(tiny_voc), option)
    assert code == 1
    line = one_error_line(err)
    assert expected in line
    assert not line.startswith('error: "')  # a KeyError is not quoted


def test_checkpoint_with_another_classifier_size(
        train_tool, monkeypatch, step0_run, tiny_voc, tmp_path):
    work_dir, ckpt_path = copy_run(step0_run, tmp_path)
    # the step-0 checkpoint replaced by one of 10-1's step 0 (11 classes)
    ckpt = torch.load(ckpt_path, weights_only=False)
    state = ckpt['state_dict']
    for key in ('weight', 'bias'):
        name = f'decode_head.conv_seg.0.{key}'
        state[name] = state[name][:10]  # sigmoid: no background logit
    ckpt['meta']['cisseg']['classes_per_step'] = [11]
    torch.save(ckpt, ckpt_path)
    code, err = run_cli(
        train_tool, monkeypatch, demo('star-basic'), '--work-dir',
        work_dir, '--steps', '1', '--cfg-options', *options(tiny_voc))
    assert code == 1
    line = one_error_line(err)
    assert ckpt_path in line
    assert 'classes per step [11], expected step 0 with [16]' in line

    # the same with a stamp that claims the right size: the old model's
    # strict check refuses the weights while the Runner builds the model
    ckpt['meta']['cisseg']['classes_per_step'] = [16]
    torch.save(ckpt, ckpt_path)
    code, err = run_cli(
        train_tool, monkeypatch, demo('star-basic'), '--work-dir',
        work_dir, '--steps', '1', '--cfg-options', *options(tiny_voc))
    assert code == 1
    line = one_error_line(err)
    assert f'{ckpt_path}: not a checkpoint of step 0 of this protocol ' \
        '(expected classifiers of sizes [15]' in line


def test_resume_checkpoint_of_another_protocol(train_tool, monkeypatch,
                                               step0_run, tiny_voc, tmp_path):
    work_dir, ckpt_path = copy_run(step0_run, tmp_path)
    # a step-1 checkpoint of another protocol left in step_1/ (no metrics
    # entry of step 1 yet): --resume must not resume from it
    ckpt = torch.load(ckpt_path, weights_only=False)
    ckpt['meta']['cisseg'].update(step=1, classes_per_step=[16, 1])
    os.makedirs(osp.join(work_dir, 'step_1'))
    stray = osp.join(work_dir, 'step_1', 'iter_1.pth')
    torch.save(ckpt, stray)
    code, err = run_cli(
        train_tool, monkeypatch, demo('star-basic'), '--work-dir',
        work_dir, '--resume', '--cfg-options', *options(tiny_voc))
    assert code == 1
    line = one_error_line(err)
    assert stray in line and 'expected step 1 with [16, 5]' in line


def test_prototypes_of_another_protocol(train_tool, monkeypatch,
                                        step0_run, tiny_voc, tmp_path):
    work_dir, _ = copy_run(step0_run, tmp_path)
    path = osp.join(work_dir, 'step_0', 'prototypes.pth')
    bank = PrototypeBank.load(path)
    bank.meta['protocol']['steps'] = [list(range(11))] + [
        [c] for c in range(11, 21)]  # 10-1
    bank.save(path)
    code, err = run_cli(
        train_tool, monkeypatch, demo('star-basic'), '--work-dir',
        work_dir, '--steps', '1', '--cfg-options', *options(tiny_voc))
    assert code == 1
    line = one_error_line(err)
    assert f'{path}: prototypes of step 0 of protocol [[0, 1, 2' in line
    assert 'expected step 0 of [[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, ' \
        '13, 14, 15], [16, 17, 18, 19, 20]]' in line


@pytest.mark.parametrize('method, hook, expected', [
    ('star-lite', 'PrototypeReplayHook',
     'STAR-Lite (PrototypeDerivationHook) derives prototypes and cannot be '
     'combined with stored prototypes'),
    ('finetune', 'PrototypeReplayHook',
     'PrototypeReplayHook (STAR-Basic) needs a segmentor with prototype '
     "replay (model.type='STARSegmentor'), got IncrementalEncoderDecoder"),
])
def test_incompatible_hooks(tiny_voc, tmp_path, method, hook, expected):
    # a list of hooks cannot be given with --cfg-options: Python API
    cfg = demo_cfg(method, tiny_voc, str(tmp_path))
    cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [dict(type=hook)]
    with pytest.raises(ValueError, match=expected.replace('(', r'\(')
                       .replace(')', r'\)')):
        StepScheduler(cfg).run()
    # refused before step 0 trained
    assert not osp.exists(osp.join(str(tmp_path), 'step_0', 'iter_3.pth'))


@pytest.mark.slow
def test_subprocess_exit_status_and_debug(train_tool, monkeypatch, tiny_voc,
                                          tmp_path):
    argv = [demo('star-basic'), '--work-dir', str(tmp_path), '--cfg-options',
            *options(tiny_voc), 'model.decode_head.formulation=softmax']
    proc = subprocess.run([sys.executable, TRAIN, *argv],
                          env=dict(os.environ, OMP_NUM_THREADS='1'), cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1
    assert "STARSegmentor needs decode_head.formulation='sigmoid'" in \
        one_error_line(proc.stderr)
    # --debug: the exception itself (its traceback)
    with pytest.raises(ValueError, match='STARSegmentor needs'):
        run_cli(train_tool, monkeypatch, *argv, '--debug')
