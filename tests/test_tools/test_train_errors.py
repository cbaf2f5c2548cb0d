"""tools/train.py turns bad input into one line ``error: ...`` and exit 1.

Most cases call the tool's ``main`` in this process through the same
``run_tool`` wrapper as its ``__main__`` block; two run it as a real
subprocess (exit status, no traceback on stderr, traceback with --debug).
"""
import contextlib
import glob
import io
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

from cisseg.engine import StepScheduler
from cisseg.engine.launch import run_tool
from cisseg.models.utils import PrototypeBank
from tests.conftest import REPO, copy_steps, load_script
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
    return load_script(TRAIN)


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


def copy_run(star_run, tmp_path):
    """A copy of ``star_run`` with step 0 finished (only): (work dir, the
    step-0 checkpoint)."""
    work_dir = copy_steps(star_run, str(tmp_path / 'run'), [0])
    return work_dir, osp.join(work_dir, star_run[1]['steps'][0]['checkpoint'])


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
        train_tool, monkeypatch, star_run, tiny_voc, tmp_path):
    work_dir, ckpt_path = copy_run(star_run, tmp_path)
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
                                               star_run, tiny_voc, tmp_path):
    work_dir, ckpt_path = copy_run(star_run, tmp_path)
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
                                        star_run, tiny_voc, tmp_path):
    work_dir, _ = copy_run(star_run, tmp_path)
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


# ---------------------------------------------------------------------------
# Issue 15's table: each row ends in one line naming the file or key, before
# any training, and what was written is kept (docs/run_integrity.md).
def snapshot(work_dir):
    """Bytes of every file under a work dir (to show nothing changed)."""
    out = {}
    for root, _, files in os.walk(work_dir):
        for name in files:
            path = osp.join(root, name)
            with open(path, 'rb') as f:
                out[osp.relpath(path, work_dir)] = f.read()
    return out


def copy_data(tiny_voc, tmp_path):
    dest = str(tmp_path / 'voc')
    shutil.copytree(tiny_voc, dest,
                    ignore=shutil.ignore_patterns('.cisseg_cache'))
    return dest


def split_names(root, split):
    with open(osp.join(root, 'ImageSets', 'Segmentation',
                       split + '.txt')) as f:
        return f.read().split()


def edit_label(root, name, edit):
    from PIL import Image
    path = osp.join(root, 'SegmentationClass', name + '.png')
    img = Image.open(path)
    out = edit(img)
    out.save(path)
    return path


def assert_not_trained(work_dir):
    found = glob.glob(osp.join(work_dir, 'step_*', 'iter_*.pth'))
    assert not found, found


def test_rerun_of_a_step_without_resume_is_refused(
        train_tool, monkeypatch, star_run, tiny_voc, tmp_path):
    work_dir, ckpt = copy_run(star_run, tmp_path)
    before = snapshot(work_dir)
    code, err = run_cli(train_tool, monkeypatch, demo('star-basic'),
                        '--work-dir', work_dir, '--steps', '0',
                        '--cfg-options', *options(tiny_voc))
    assert code == 1
    line = one_error_line(err)
    assert f'{ckpt}: step 0 has checkpoints of an earlier run; --resume ' \
        'continues it, --overwrite trains step 0 again' in line
    assert snapshot(work_dir) == before  # prototypes.pth, metrics.json kept

    # --overwrite: trained again with 1 iteration; the recorded checkpoint
    # is the one the Runner saved and tested, the old one is gone
    code, err = run_cli(train_tool, monkeypatch, demo('star-basic'),
                        '--work-dir', work_dir, '--steps', '0', '--overwrite',
                        '--cfg-options', *options(tiny_voc),
                        'train_cfg.max_iters=1')
    assert code == 0, err
    with open(osp.join(work_dir, 'metrics.json')) as f:
        entry = json.load(f)['steps'][0]
    assert entry['checkpoint'] == 'step_0/iter_1.pth'
    assert not osp.exists(ckpt)
    from cisseg.engine.test import test_step
    cfg = demo_cfg('star-basic', tiny_voc, work_dir)
    metrics, _ = test_step(StepScheduler(cfg), work_dir, 0,
                           work_dir=str(tmp_path / 'test'))
    assert metrics['mIoU_all'] == pytest.approx(entry['mIoU_all'], abs=1e-9)


@pytest.mark.parametrize('method, option, expected', [
    ('star-basic', 'incremental.setting=disjoint',
     "setting 'overlap' -> 'disjoint'"),
    ('finetune', None, "method 'star_basic' -> 'finetune'"),
])
def test_resume_of_another_run_is_refused(train_tool, monkeypatch, star_run,
                                          tiny_voc, tmp_path, method, option,
                                          expected):
    work_dir, _ = copy_run(star_run, tmp_path)
    before = snapshot(work_dir)
    code, err = run_cli(train_tool, monkeypatch, demo(method), '--work-dir',
                        work_dir, '--resume', '--cfg-options',
                        *options(tiny_voc), *([option] if option else []))
    assert code == 1
    line = one_error_line(err)
    assert osp.join(work_dir, 'metrics.json') in line and expected in line
    assert snapshot(work_dir) == before


def test_resume_with_another_config_names_the_keys(
        star_run, tiny_voc, tmp_path):
    """An unfinished step resumes only under the config that saved its
    checkpoint; a finished step reused by a later one may differ (another
    seed for the later steps), with a warning."""
    from tests.conftest import learned_cfg
    _, data = star_run
    work_dir = copy_steps(star_run, str(tmp_path / 'run'), [0, 1])
    with open(osp.join(work_dir, 'metrics.json'), 'w') as f:
        json.dump(dict(data, steps=data['steps'][:1]), f)
    cfg = learned_cfg(tiny_voc, work_dir, **{
        'incremental.step_overrides.inc.optim_wrapper.optimizer.lr': 0.01})
    with pytest.raises(ValueError) as e:
        StepScheduler(cfg, resume=True).run()
    msg = str(e.value)
    assert msg.startswith(osp.join(work_dir, 'step_1', 'iter_10.pth') +
                          ': --resume with another config')
    assert 'optim_wrapper.optimizer.lr 0.002 -> 0.01' in msg
    # a step-1 checkpoint trained from another step-0 model
    from cisseg.engine.checkpoint import safe_load
    import torch
    path = osp.join(work_dir, 'step_1', 'iter_10.pth')
    ckpt = safe_load(path)
    ckpt['meta']['cisseg']['parent'] = 'another'
    torch.save(ckpt, path)
    with pytest.raises(ValueError, match='trained from another step-0 model'):
        StepScheduler(learned_cfg(tiny_voc, work_dir), resume=True).run()


def test_data_errors_before_training(train_tool, monkeypatch, tiny_voc,
                                     tmp_path):
    """A val label with a value out of range (read with DataLoader workers),
    label maps of another size than their image (train and val) and a
    missing val.txt: one line naming the file, before step 0 trains."""
    from PIL import Image
    root = copy_data(tiny_voc, tmp_path)
    val, train = split_names(root, 'val'), split_names(root, 'train')

    def run(work_dir):
        return run_cli(train_tool, monkeypatch, demo('star-basic'),
                       '--work-dir', work_dir, '--cfg-options',
                       *options(root), 'test_dataloader.num_workers=1',
                       'train_dataloader.num_workers=1')

    def out_of_range(img):
        a = np.array(img)
        a[:4, :4] = 30
        out = Image.fromarray(a, mode='P')
        out.putpalette(img.getpalette())
        return out

    path = edit_label(root, val[3], out_of_range)
    code, err = run(str(tmp_path / 'a'))
    assert code == 1
    assert f'{path}: label values [30] are not classes' in one_error_line(err)
    assert_not_trained(str(tmp_path / 'a'))
    shutil.copy(osp.join(tiny_voc, 'SegmentationClass', val[3] + '.png'),
                path)

    for split, name in (('train', train[0]), ('val', val[2])):
        path = edit_label(root, name,
                          lambda img: img.resize((40, 40), Image.NEAREST))
        work_dir = str(tmp_path / split)
        code, err = run(work_dir)
        assert code == 1
        img = osp.join(root, 'JPEGImages', name + '.jpg')
        assert f'{path}: label map of 40x40 px for the image {img} of 32x32 ' \
            'px' in one_error_line(err)
        assert_not_trained(work_dir)
        shutil.copy(osp.join(tiny_voc, 'SegmentationClass', name + '.png'),
                    path)

    val_txt = osp.join(root, 'ImageSets', 'Segmentation', 'val.txt')
    os.remove(val_txt)
    code, err = run(str(tmp_path / 'noval'))
    assert code == 1
    assert f'{val_txt}: annotation file not found' in one_error_line(err)
    assert_not_trained(str(tmp_path / 'noval'))


def test_misspelt_data_root_generates_nothing(train_tool, monkeypatch,
                                              tmp_path):
    bad = str(tmp_path / 'data' / 'shapes_vco')
    code, err = run_cli(train_tool, monkeypatch, demo('finetune'),
                        '--work-dir', str(tmp_path / 'w'), '--cfg-options',
                        *options(bad))
    assert code == 1
    assert f"data_root {bad!r}: no dataset there; the synthetic dataset is " \
        "generated only at synthetic_data.data_root='data/shapes_voc'" in \
        one_error_line(err)
    assert not osp.exists(bad)


def test_corrupt_metrics_json_is_named(train_tool, monkeypatch, star_run,
                                       tiny_voc, tmp_path):
    work_dir, _ = copy_run(star_run, tmp_path)
    path = osp.join(work_dir, 'metrics.json')
    with open(path) as f:
        text = f.read()
    with open(path, 'w') as f:
        f.write(text[:26] + text[40:])
    before = snapshot(work_dir)
    code, err = run_cli(train_tool, monkeypatch, demo('star-basic'),
                        '--work-dir', work_dir, '--resume', '--cfg-options',
                        *options(tiny_voc))
    assert code == 1
    assert one_error_line(err).startswith(
        f'error: {path}: metrics file is not valid JSON (')
    assert snapshot(work_dir) == before


def test_truncated_checkpoint_falls_back_to_the_previous_one(
        star_run, tiny_voc, tmp_path):
    from tests.conftest import learned_cfg
    _, data = star_run
    work_dir = copy_steps(star_run, str(tmp_path / 'run'), [0, 1])
    with open(osp.join(work_dir, 'metrics.json'), 'w') as f:
        json.dump(dict(data, steps=data['steps'][:1]), f)
    step1 = osp.join(work_dir, 'step_1')
    good = osp.join(step1, 'iter_10.pth')
    bad = osp.join(step1, 'iter_11.pth')  # newer, cut in the middle
    with open(good, 'rb') as f, open(bad, 'wb') as g:
        g.write(f.read()[:100000])
    sched = StepScheduler(learned_cfg(tiny_voc, work_dir), resume=True)
    assert sched.resume_checkpoint(1, data['steps'][0]['run']['id']) == good
    # resumed at its last iteration: nothing to train, tested, recorded
    out = sched.run()
    assert out['steps'][1]['checkpoint'] == 'step_1/iter_10.pth'
    assert out['steps'][1]['mIoU_all'] == pytest.approx(
        data['steps'][1]['mIoU_all'], abs=1e-9)
    assert osp.exists(bad)  # kept: nothing already written is lost
    # the only checkpoint truncated: an error naming it
    os.remove(good)
    with pytest.raises(ValueError, match=f'{bad}: unreadable checkpoint, '
                       'truncated or not a torch file .*no earlier '
                       'checkpoint of step 1'):
        sched.resume_checkpoint(1, data['steps'][0]['run']['id'])


@pytest.mark.parametrize('option, expected', [
    ('incremental.settting=disjoint',
     'incremental.settting: unknown key; the keys of incremental are '
     'dataset, task, setting'),
    ('max_iters=1', 'max_iters=1 is not read at this level; set '
     'train_cfg.max_iters (or incremental.step_overrides.<base|inc|t>.'
     'train_cfg.max_iters)'),
    ('incremental.step_overrides.incr.lr=1',
     "incremental.step_overrides.incr: unknown key; expected 'base' (step "
     "0), 'inc' (steps > 0) or a step of 0..1"),
    ('incremental.step_overrides.inc.max_iters=1',
     'incremental.step_overrides.inc.max_iters=1 is not read at this level; '
     'set incremental.step_overrides.inc.train_cfg.max_iters'),
    ('default_hooks.checkpoint=None', 'default_hooks.checkpoint is not set: '
     'every step needs its last checkpoint'),
    ('default_hooks.checkpoint.save_last=False',
     'default_hooks.checkpoint.save_last=False'),
    ('incremental.steps=[[0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15],'
     '[16.7,17,18,19,20]]',
     'incremental.steps: class ids must be integers, got 16.7 (float)'),
    ('incremental=voc', "incremental: expected a dict such as "
     "dict(dataset='voc', task='15-1'), got 'voc'"),
    ('incremental.order_seed=abc',
     "incremental.order_seed: expected an integer, got 'abc'"),
    # a misspelt loop argument of the later steps: refused before step 0
    ('incremental.step_overrides.inc.train_cfg.max_iter=5',
     'train_cfg.max_iter of step 1: not an argument of IterBasedTrainLoop '
     '(expected max_iters, val_begin, val_interval, dynamic_intervals); '
     'check train_cfg and incremental.step_overrides'),
    ('train_cfg.max_iters=abc',
     "train_cfg.max_iters of step 0: expected an integer, got 'abc'"),
    ('optim_wrapper.optimizer.lr=fast',
     "optim_wrapper.optimizer.lr of step 0: expected a number, got 'fast'"),
    # the demo's 15-5 task, the run called offline (joint training)
    ('incremental.method=offline',
     "incremental.method='offline' is joint training in one step, but "
     "incremental.task='15-5' has 2 steps; use incremental.task='offline'"),
    # the fine-tuning demo labelled as a STAR run
    ('incremental.method=star_basic',
     "incremental.method='star_basic' names a star run but model.type is "
     'IncrementalEncoderDecoder (STARSegmentor trains star); name the run '
     "after its method: a name that starts with 'finetune' or 'offline'"),
])
def test_config_mistakes_are_refused(train_tool, monkeypatch, tiny_voc,
                                     tmp_path, option, expected):
    code, err = run_cli(train_tool, monkeypatch, demo('finetune'),
                        '--work-dir', str(tmp_path), '--cfg-options',
                        *options(tiny_voc), option)
    assert code == 1
    assert expected in one_error_line(err)
    assert not osp.exists(osp.join(str(tmp_path), 'step_0'))


def test_step0_load_from_with_another_class_count(train_tool, monkeypatch,
                                                  star_run, tiny_voc,
                                                  tmp_path):
    """A cisseg step-0 checkpoint of 15 classes + background as load_from
    of a 19-1 run: refused before training (mmengine would skip the
    classifier with a warning)."""
    work_dir, data = star_run
    ckpt = osp.join(work_dir, data['steps'][0]['checkpoint'])
    code, err = run_cli(train_tool, monkeypatch, demo('finetune'),
                        '--work-dir', str(tmp_path), '--cfg-options',
                        *options(tiny_voc), 'incremental.task=19-1',
                        f'load_from={ckpt}')
    assert code == 1
    assert (f'load_from {ckpt}: cisseg checkpoint of step 0 with 16 '
            'classes; step 0 of this protocol has 20 (its classifier would '
            'not load)') in one_error_line(err)
    assert not osp.exists(osp.join(str(tmp_path), 'step_0'))


def test_work_dir_that_is_a_file(train_tool, monkeypatch, tiny_voc,
                                 tmp_path):
    path = tmp_path / 'run'
    path.write_text('')
    code, err = run_cli(train_tool, monkeypatch, demo('finetune'),
                        '--work-dir', str(path), '--cfg-options',
                        *options(tiny_voc))
    assert code == 1
    assert f'work_dir {path}: exists and is not a folder' in \
        one_error_line(err)


def test_class_ids_of_a_custom_order_must_be_integers():
    """A string or float class id is refused, not truncated by int() (the
    command line turns '15' into 15; a config file can hold a string)."""
    from cisseg.datasets import build_protocol
    steps = [list(range(15)) + ['15'], [16, 17, 18, 19, 20]]
    with pytest.raises(ValueError, match="class ids must be integers, got "
                       "'15' \\(str\\)"):
        build_protocol('voc', 'custom', steps=steps)
    with pytest.raises(ValueError, match='step 1 must be a list of class '
                       "ids, got '16'"):
        build_protocol('voc', 'custom', steps=[list(range(16)), '16'])
    assert build_protocol('voc', 'custom', steps=[
        list(range(16)), [np.int64(c) for c in range(16, 21)]]).steps[1] == \
        (16, 17, 18, 19, 20)


def test_a_second_run_in_the_work_dir_is_refused(
        train_tool, monkeypatch, star_run, tiny_voc, tmp_path):
    from cisseg.utils import WorkDirLock
    work_dir, _ = copy_run(star_run, tmp_path)
    before = snapshot(work_dir)
    with WorkDirLock(work_dir):  # the first run, still going on
        code, err = run_cli(train_tool, monkeypatch, demo('star-basic'),
                            '--work-dir', work_dir, '--resume',
                            '--cfg-options', *options(tiny_voc))
        assert code == 1
        assert f'{osp.join(work_dir, ".cisseg.lock")}: the work dir is in ' \
            f'use by another run (pid {os.getpid()} on ' in \
            one_error_line(err)
        assert snapshot(work_dir) == dict(before, **{
            '.cisseg.lock': snapshot(work_dir)['.cisseg.lock']})
    assert snapshot(work_dir) == before  # the lock is gone with its run


def test_lock_of_a_dead_run_is_taken_over(tmp_path):
    from cisseg.utils import WorkDirBusy, WorkDirLock
    stale = tmp_path / WorkDirLock.NAME
    stale.write_text('pid 999999 on elsewhere since 2026-01-01 00:00:00\n')
    with WorkDirLock(str(tmp_path)) as lock:  # no process holds its flock
        assert lock.taken_over.startswith('pid 999999')
        assert stale.read_text().startswith(f'pid {os.getpid()} on ')
        with pytest.raises(WorkDirBusy, match=f'pid {os.getpid()}'):
            WorkDirLock(str(tmp_path)).acquire()
    assert not stale.exists()


CRAFTED = '''
import os, sys, torch
class Payload:
    def __reduce__(self):
        return (os.system, ('touch ' + sys.argv[2], ))
torch.save(dict(meta=dict(cisseg=Payload()), state_dict={}), sys.argv[1])
'''


def test_crafted_checkpoint_is_not_unpickled(train_tool, monkeypatch,
                                             star_run, tiny_voc, tmp_path):
    work_dir, _ = copy_run(star_run, tmp_path)
    crafted = osp.join(work_dir, 'step_1', 'iter_9.pth')
    os.makedirs(osp.dirname(crafted))
    flag = str(tmp_path / 'code_ran')
    subprocess.run([sys.executable, '-c', CRAFTED, crafted, flag],
                   check=True)
    code, err = run_cli(train_tool, monkeypatch, demo('star-basic'),
                        '--work-dir', work_dir, '--resume', '--cfg-options',
                        *options(tiny_voc))
    assert code == 1
    assert f'{crafted}: refused, it pickles more than weights (the global ' \
        'posix.system)' in one_error_line(err)
    assert not osp.exists(flag)
    from cisseg.engine.test import test_step
    with pytest.raises(ValueError, match='refused'):
        test_step(StepScheduler(demo_cfg('star-basic', tiny_voc, work_dir)),
                  crafted, 1)
    assert not osp.exists(flag)


@pytest.mark.parametrize('where', ['absolute', 'parent'])
def test_metrics_checkpoint_outside_the_work_dir(
        train_tool, monkeypatch, star_run, tiny_voc, tmp_path, where):
    work_dir, ckpt = copy_run(star_run, tmp_path)
    outside = str(tmp_path / 'elsewhere.pth')
    shutil.copy(ckpt, outside)
    path = osp.join(work_dir, 'metrics.json')
    with open(path) as f:
        data = json.load(f)
    data['steps'][0]['checkpoint'] = outside if where == 'absolute' else \
        '../elsewhere.pth'
    with open(path, 'w') as f:
        json.dump(data, f)
    code, err = run_cli(train_tool, monkeypatch, demo('star-basic'),
                        '--work-dir', work_dir, '--steps', '1',
                        '--cfg-options', *options(tiny_voc))
    assert code == 1
    assert f"{path}: step 0's checkpoint: " \
        f"{data['steps'][0]['checkpoint']!r} is outside the work dir" in \
        one_error_line(err)
    assert not osp.exists(osp.join(work_dir, 'step_1'))
    from cisseg.engine.test import resolve_checkpoint
    with pytest.raises(ValueError, match='outside the work dir'):
        resolve_checkpoint(None, work_dir, 0)


def test_dataset_data_root_of_its_own_is_kept(tiny_voc, tmp_path):
    """--cfg-options data_root reaches the datasets that use the config's
    data_root variable; a dataset with a data_root of its own keeps it."""
    own = str(tmp_path / 'own')
    leaf = tmp_path / 'own_root.py'
    leaf.write_text(
        f"_base_ = [{demo('finetune')!r}]\n"
        "train_dataloader = dict(dataset=dict(dataset=dict("
        f"data_root={own!r})))\n")
    from cisseg.engine import load_config
    for options_root in (None, tiny_voc):
        opts = {'work_dir': str(tmp_path / 'w')}
        if options_root:
            opts['data_root'] = options_root
        cfg = StepScheduler(load_config(str(leaf), opts)).config_for_step(0)
        assert cfg.train_dataloader.dataset.dataset.data_root == own
        assert cfg.test_dataloader.dataset.dataset.data_root == \
            (options_root or 'data/shapes_voc')


def test_error_in_a_dataloader_worker_names_the_file():
    """torch re-raises a worker's error as 'Caught ValueError in DataLoader
    worker process 0.' + the traceback: the line is the original message."""
    from torch.utils.data import DataLoader, Dataset

    class Bad(Dataset):
        def __len__(self):
            return 2

        def __getitem__(self, i):
            raise ValueError('/data/x.png: label values [30] are not '
                             'classes of this dataset')

    def main():
        for _ in DataLoader(Bad(), num_workers=1):
            pass

    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert run_tool(main) == 1
    assert err.getvalue() == 'error: /data/x.png: label values [30] are ' \
        'not classes of this dataset\n'
