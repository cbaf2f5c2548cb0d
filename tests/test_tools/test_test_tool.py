"""tools/test.py: one step of a run, with mmseg's test flags (--out,
--show-dir, --tta), logs of a step test in WORK_DIR/step_<t>/test."""
import contextlib
import glob
import io
import json
import os.path as osp
import shutil
import sys

import numpy as np
import pytest

from cisseg.engine.launch import run_tool
from tests.conftest import REPO, load_script
from tests.test_tools.conftest import LEAF

TEST = osp.join(REPO, 'tools', 'test.py')
KEYS = ('mIoU_base', 'mIoU_inc', 'mIoU_all', 'hIoU')


@pytest.fixture(scope='module')
def test_tool():
    return load_script(TEST)


def run_cli(test_tool, monkeypatch, *argv):
    """Run tools/test.py in this process; returns (exit code, stderr)."""
    monkeypatch.setattr(sys, 'argv', [TEST, *argv])
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = run_tool(test_tool.main)
    return code, err.getvalue()


def read(path):
    with open(path) as f:
        return json.load(f)


def test_checkpoint_of_a_run(test_tool, monkeypatch, demo_run, tiny_voc,
                             tmp_path):
    """A run's checkpoint: its step read from it, logs in
    WORK_DIR/step_1/test/<timestamp>/, predictions and drawings."""
    work_dir, data = demo_run
    entry = data['steps'][1]
    out, show = str(tmp_path / 'pred'), str(tmp_path / 'show')
    code, err = run_cli(
        test_tool, monkeypatch, LEAF, osp.join(work_dir, entry['checkpoint']),
        '--metrics', str(tmp_path / 'm.json'), '--out', out, '--show-dir',
        show, '--cfg-options', f'data_root={tiny_voc}')
    assert code == 0, err
    got = read(tmp_path / 'm.json')
    assert got['step'] == 1
    for key in KEYS:
        assert got[key] == pytest.approx(entry[key], abs=1e-9)
    logs = glob.glob(osp.join(work_dir, 'step_1', 'test', '*', '*.log'))
    assert logs and not osp.exists(osp.join(work_dir, 'step_1', 'step_1'))
    # --out: train ids of the 17 classes seen at step 1, one PNG per image
    from PIL import Image
    pngs = sorted(glob.glob(osp.join(out, '*.png')))
    assert len(pngs) == 16
    assert max(np.asarray(Image.open(p)).max() for p in pngs) <= 16
    # --show-dir: every image drawn by SegLocalVisualizer
    drawn = glob.glob(osp.join(show, '**', '*.png'), recursive=True)
    assert len(drawn) == 16


def test_work_dir_and_step(test_tool, monkeypatch, demo_run, tiny_voc,
                           tmp_path):
    work_dir, data = demo_run
    code, err = run_cli(
        test_tool, monkeypatch, LEAF, work_dir, '--step', '0', '--work-dir',
        str(tmp_path / 'logs'), '--metrics', str(tmp_path / 'm.json'),
        '--cfg-options', f'data_root={tiny_voc}')
    assert code == 0, err
    got = read(tmp_path / 'm.json')
    assert got['step'] == 0 and got['mIoU_base'] == pytest.approx(
        data['steps'][0]['mIoU_base'], abs=1e-9)
    assert glob.glob(str(tmp_path / 'logs' / '*' / '*.log'))


def test_checkpoint_outside_a_run(test_tool, monkeypatch, demo_run,
                                  tiny_voc, tmp_path):
    """No run around it: logs under ./work_dirs/<config>/step_<t>/test."""
    work_dir, data = demo_run
    ckpt = str(tmp_path / 'step1.pth')
    shutil.copy(osp.join(work_dir, data['steps'][1]['checkpoint']), ckpt)
    monkeypatch.chdir(tmp_path)
    code, err = run_cli(test_tool, monkeypatch, LEAF, ckpt, '--cfg-options',
                        f'data_root={tiny_voc}')
    assert code == 0, err
    name = osp.splitext(osp.basename(LEAF))[0]
    assert glob.glob(osp.join('work_dirs', name, 'step_1', 'test', '*',
                              '*.log'))


@pytest.mark.parametrize('args,expected', [
    (['--step', '9'], '--step 9: the protocol has steps 0..5'),
    (['--step', '3'], 'step 3 is not finished (finished: [0, 1])'),
    # the same classes per step, another order
    (['--step', '1', 'incremental.order_seed=5'],
     'checkpoint of step 1 of another class order: its step 0 learned '
     'classes [0, 1, 2,'),
])
def test_step_and_class_order_errors(test_tool, monkeypatch, demo_run,
                                     tiny_voc, args, expected):
    work_dir, _ = demo_run
    step, options = args[:2], args[2:]
    code, err = run_cli(test_tool, monkeypatch, LEAF, work_dir, *step,
                        '--cfg-options', f'data_root={tiny_voc}', *options)
    assert code == 1
    assert expected in err.strip().splitlines()[-1]


def test_tta(test_tool, monkeypatch, demo_run, tiny_voc, tmp_path):
    work_dir, data = demo_run
    code, err = run_cli(test_tool, monkeypatch, LEAF, work_dir, '--tta',
                        '--cfg-options', f'data_root={tiny_voc}',
                        'tta_pipeline=None')
    assert code == 1
    assert 'error: --tta: the config has no tta_pipeline' in err
    # the demo's own tta_pipeline (the image and its flip)
    code, err = run_cli(test_tool, monkeypatch, LEAF, work_dir, '--tta',
                        '--work-dir', str(tmp_path / 'logs'), '--metrics',
                        str(tmp_path / 'm.json'), '--cfg-options',
                        f'data_root={tiny_voc}')
    assert code == 0, err
    got = read(tmp_path / 'm.json')
    assert got['step'] == 1 and set(KEYS) <= set(got)
