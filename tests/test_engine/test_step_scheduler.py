import glob
import json
import os
import os.path as osp

import pytest

from cisseg.engine import (StepScheduler, latest_checkpoint, load_config,
                           parse_steps)
from tests.conftest import REPO, copy_steps, learned_cfg


def demo_cfg(method, data_root, work_dir, **extra):
    return load_config(
        osp.join(REPO, 'configs', 'demo', f'{method}_shapes-15-1-overlap.py'),
        {
        'data_root': data_root,
        'incremental.task': '15-5',
        'train_cfg.max_iters': 3,
        'incremental.step_overrides.inc.train_cfg.max_iters': 2,
        'train_dataloader.batch_size': 4,
        'default_hooks.logger.interval': 1,
        'work_dir': work_dir,
        **extra
    })


def test_parse_steps():
    assert parse_steps(None, 3) == [0, 1, 2]
    assert parse_steps('1-2', 3) == [1, 2]
    assert parse_steps('2', 3) == [2]
    with pytest.raises(ValueError, match='steps 0..2'):
        parse_steps('1-3', 3)
    with pytest.raises(ValueError, match="expected 'A-B'"):
        parse_steps('x', 3)


def test_config_for_step(tiny_voc, tmp_path):
    cfg = demo_cfg('star-basic', tiny_voc, str(tmp_path))
    sched = StepScheduler(cfg)
    c0 = sched.config_for_step(0)
    assert c0.model.decode_head.classes_per_step == [16]
    assert c0.train_cfg.max_iters == 3
    assert c0.param_scheduler[0].end == 3
    assert c0.optim_wrapper.optimizer.lr == 0.05
    assert 'old_checkpoint' not in c0.model
    assert c0.work_dir == osp.join(str(tmp_path), 'step_0')
    c1 = sched.config_for_step(1, load_from='prev.pth')
    assert c1.model.decode_head.classes_per_step == [16, 5]
    assert c1.model.decode_head.num_classes == 21
    assert c1.load_from == c1.model.old_checkpoint == 'prev.pth'
    assert c1.train_cfg.max_iters == 2 and c1.param_scheduler[0].end == 2
    # the STAR demo leaf's rate, not the schedule's 0.005
    assert c1.optim_wrapper.optimizer.lr == 0.002
    assert c1.model.freeze_bn is True
    assert c1.train_dataloader.dataset.step == 1
    assert c1.train_dataloader.dataset.dataset.data_root == tiny_voc
    hook = [h for h in c1.custom_hooks if h.type == 'PrototypeReplayHook'][0]
    assert hook.step == 1 and hook.work_dir == str(tmp_path)
    assert c0.experiment_name != c1.experiment_name
    assert 'name' not in c1.visualizer
    with pytest.raises(ValueError, match='needs the checkpoint of step 0'):
        sched.config_for_step(1)


def test_finetune_does_not_build_an_old_model(tiny_voc, tmp_path):
    sched = StepScheduler(demo_cfg('finetune', tiny_voc, str(tmp_path)))
    assert 'old_checkpoint' not in sched.config_for_step(1, 'p.pth').model


def test_metrics_json_schema(star_run):
    work_dir, data = star_run
    with open(osp.join(work_dir, 'metrics.json')) as f:
        on_disk = json.load(f)
    assert on_disk == data
    assert on_disk['protocol'] == dict(
        dataset='voc', task='15-5', setting='overlap', method='star_basic',
        steps=[list(range(16)), [16, 17, 18, 19, 20]])
    s0, s1 = on_disk['steps']
    assert s0['step'] == 0 and s0['classes'] == list(range(16))
    assert s0['new_classes'] == list(range(16))
    assert s0['mIoU_inc'] is None and s0['hIoU'] is None
    assert 0 <= s0['mIoU_base'] <= 100 and 0 <= s0['mIoU_all'] <= 100
    assert list(s0['per_class'])[:2] == ['background', 'aeroplane']
    assert len(s1['per_class']) == 21 and s1['new_classes'] == list(
        range(16, 21))
    for s in (s0, s1):
        assert osp.isfile(osp.join(work_dir, s['checkpoint']))
        assert s['train_images'] > 0 and s['train_seconds'] > 0
    assert s1['mIoU_inc'] is not None and s1['hIoU'] is not None
    # the checkpoints the Runners saved last (max_iters 120 and 10)
    assert (s0['checkpoint'], s1['checkpoint']) == (
        'step_0/iter_120.pth', 'step_1/iter_10.pth')


def test_run_identity_in_metrics_and_checkpoints(star_run, tiny_voc):
    from cisseg.engine.checkpoint import checkpoint_meta
    from cisseg.engine.step_scheduler import (config_fingerprint,
                                              fingerprint_hash)
    work_dir, data = star_run
    sched = StepScheduler(learned_cfg(tiny_voc, work_dir))
    s0, s1 = data['steps']
    for entry in (s0, s1):
        run = entry['run']
        assert {k: run[k] for k in ('method', 'dataset', 'task', 'setting',
                                    'formulation', 'seed')} == dict(
            method='star_basic', dataset='voc', task='15-5',
            setting='overlap', formulation='sigmoid', seed=1)
        step_cfg = sched.config_for_step(entry['step'], 'any.pth')
        assert run['config'] == fingerprint_hash(
            config_fingerprint(step_cfg))
        info = checkpoint_meta(osp.join(work_dir, entry['checkpoint']))[
            'cisseg']
        assert dict(info['run'], id=info['id'], parent=info['parent']) == run
        assert info['config'] == config_fingerprint(step_cfg)
    # step 1 was trained from the step-0 model metrics.json records
    assert s0['run']['parent'] is None
    assert s1['run']['parent'] == s0['run']['id'] != s1['run']['id']
    # paths, logging and the machine are not part of the identity
    flat = config_fingerprint(sched.config_for_step(0))
    assert not [k for k in flat if k.endswith(('data_root', 'work_dir'))]
    assert 'model.decode_head.num_classes' in flat
    assert flat['optim_wrapper.optimizer.lr'] == 0.05


def test_resume_skips_finished_steps(star_run, tiny_voc, monkeypatch):
    work_dir, data = star_run
    from mmengine.runner import Runner

    def fail(*args, **kwargs):
        raise AssertionError('a finished step was run again')

    monkeypatch.setattr(Runner, 'from_cfg', fail)
    again = StepScheduler(learned_cfg(tiny_voc, work_dir),
                          resume=True).run()
    assert again == data


def test_resume_unfinished_step_from_its_checkpoint(star_run, tiny_voc,
                                                    tmp_path, monkeypatch):
    _, data = star_run
    copy_dir = copy_steps(star_run, str(tmp_path / 'run'), [0, 1])
    with open(osp.join(copy_dir, 'metrics.json'), 'w') as f:
        json.dump(dict(data, steps=data['steps'][:1]), f)
    seen = {}
    from mmengine.runner import Runner

    def capture(cfg):
        seen['cfg'] = cfg
        raise KeyboardInterrupt

    monkeypatch.setattr(Runner, 'from_cfg', capture)
    with pytest.raises(KeyboardInterrupt):
        StepScheduler(learned_cfg(tiny_voc, copy_dir), resume=True).run()
    cfg = seen['cfg']
    assert cfg.resume is True
    assert cfg.load_from == latest_checkpoint(osp.join(copy_dir, 'step_1'))
    assert cfg.work_dir == osp.join(copy_dir, 'step_1')
    # the stamp carries the id of the interrupted training on
    stamp = [h for h in cfg.custom_hooks
             if h.type == 'IncrementalStepHook'][0].stamp
    assert stamp['id'] == data['steps'][1]['run']['id']


def test_checkpoint_of_another_step_is_refused(star_run, tiny_voc):
    work_dir, data = star_run
    sched = StepScheduler(learned_cfg(tiny_voc, work_dir))
    ckpt1 = osp.join(work_dir, data['steps'][1]['checkpoint'])
    with pytest.raises(ValueError, match='checkpoint of step 1 .* expected '
                       'step 0'):
        sched.check_checkpoint(ckpt1, 0)


def test_work_dir_of_another_protocol_is_refused(star_run, tiny_voc):
    work_dir, _ = star_run
    cfg = learned_cfg(tiny_voc, work_dir)
    cfg.incremental.task = '15-1'
    with pytest.raises(ValueError, match='use another --work-dir'):
        StepScheduler(cfg, resume=True).run()


def test_missing_previous_step(tiny_voc, tmp_path):
    cfg = demo_cfg('finetune', tiny_voc, str(tmp_path))
    with pytest.raises(ValueError, match='needs step 0, which has no entry'):
        StepScheduler(cfg, steps='1').run()


def test_test_step_equals_training_evaluation(star_run, tiny_voc):
    """tools/test.py's evaluation == the one recorded at the end of each
    step, on models that segment some foreground (star_run asserts it):
    evaluating other weights would give other numbers."""
    from cisseg.engine.test import test_step
    work_dir, data = star_run
    sched = StepScheduler(learned_cfg(tiny_voc, work_dir))
    for entry in data['steps']:
        metrics, step = test_step(sched, work_dir, entry['step'],
                                  work_dir=str(osp.join(
                                      work_dir, f"test_{entry['step']}")))
        assert step == entry['step']
        for key in ('mIoU_base', 'mIoU_inc', 'mIoU_all', 'hIoU'):
            if entry[key] is None:
                assert metrics.get(key) is None
            else:
                assert metrics[key] == pytest.approx(entry[key], abs=1e-9)
        for name, iou in entry['per_class'].items():
            got = metrics.get(f'IoU.{name}')  # None: no pixel of the class
            assert got == iou if iou is None else \
                got == pytest.approx(iou, abs=1e-9)
    # the two steps' models differ on the base classes: the comparison
    # above can tell one step's weights from the other's
    s0, s1 = data['steps']
    assert s0['per_class'] != {k: s1['per_class'][k] for k in s0['per_class']}


def test_star_basic_two_steps(star_run):
    import torch

    from cisseg.engine.checkpoint import safe_load
    from cisseg.models.utils import PrototypeBank
    work_dir, data = star_run
    s0, s1 = data['steps']
    assert s0['replay_bytes'] == os.path.getsize(
        osp.join(work_dir, 'step_0', 'prototypes.pth'))
    bank0 = PrototypeBank.load(osp.join(work_dir, 'step_0', 'prototypes.pth'))
    bank1 = PrototypeBank.load(osp.join(work_dir, 'step_1', 'prototypes.pth'))
    assert set(bank0.class_ids) <= set(range(1, 16))
    assert set(bank1.class_ids) - set(bank0.class_ids) <= set(range(16, 21))
    assert len(bank1) > len(bank0) and bank0.bg_count > 0
    for c in bank0.class_ids:  # old prototypes are carried over unchanged
        assert torch.equal(bank0.classes[c]['prototype'],
                           bank1.classes[c]['prototype'])
    assert s1['mIoU_inc'] is not None
    # the step-1 checkpoint holds the grown classifier, stamped for step 1
    ckpt = safe_load(osp.join(work_dir, s1['checkpoint']))
    assert ckpt['meta']['cisseg']['classes_per_step'] == [16, 5]
    assert ckpt['state_dict']['decode_head.conv_seg.1.weight'].shape[0] == 5


def test_mib_end_to_end_at_step_1(tiny_voc, tmp_path):
    """MiB trains step 1 from step 0's model: unbiased CE + KD from the
    frozen old model, new classifiers initialised from background's."""
    import torch

    from cisseg.engine.checkpoint import safe_load
    work_dir = str(tmp_path / 'mib')
    data = StepScheduler(demo_cfg('mib', tiny_voc, work_dir)).run()
    s0, s1 = data['steps']
    assert data['protocol']['method'] == 'mib'
    assert s1['mIoU_inc'] is not None and s1['run']['parent'] == \
        s0['run']['id']
    with open(glob.glob(osp.join(work_dir, 'step_1', '*', '*.log'))[0]) as f:
        log = f.read()
    assert 'loss_unce' in log and 'loss_unkd' in log
    assert 'Load checkpoint from ' + osp.join(work_dir, s0['checkpoint']) \
        in log
    ckpt0 = safe_load(osp.join(work_dir, s0['checkpoint']))['state_dict']
    ckpt1 = safe_load(osp.join(work_dir, s1['checkpoint']))['state_dict']
    assert ckpt1['decode_head.conv_seg.1.weight'].shape[0] == 5
    # 2 iterations moved the new classifier away from its start (the
    # background classifier of step 0, MiB's initialisation, which gives
    # the 5 new rows equal weights)
    new = ckpt1['decode_head.conv_seg.1.weight']
    assert not torch.equal(new, ckpt0['decode_head.conv_seg.0.weight'][
        :1].expand_as(new))


def test_star_lite_two_steps_stores_counts(tiny_voc, tmp_path):
    # the authors' STAR-Lite: class counts only, no prototypes
    work_dir = str(tmp_path / 'lite')
    cfg = demo_cfg('star-lite', tiny_voc, work_dir,
                   **{'custom_hooks.0.recognition_iters': 50})
    data = StepScheduler(cfg).run()
    assert data['protocol']['method'] == 'star_lite'
    files = [f for _, _, fs in os.walk(work_dir) for f in fs]
    assert not [f for f in files if f.startswith('prototypes')]
    counts = []
    for s in data['steps']:
        path = osp.join(work_dir, f"step_{s['step']}", 'counts.json')
        assert s['replay_bytes'] == os.path.getsize(path) < 1000
        with open(path) as f:
            counts.append(json.load(f))
    c0, c1 = counts
    assert set(c0['counts']) <= {str(c) for c in range(1, 16)}
    assert c0['bg_count'] > 0 and sum(c0['counts'].values()) > 0
    # old classes' counts carried over (TPAMI rule), new classes added, the
    # background count grown by step 1's background cells
    assert {c: n for c, n in c1['counts'].items() if c in c0['counts']} == \
        c0['counts']
    assert set(c1['counts']) - set(c0['counts']) <= {
        str(c) for c in range(16, 21)}
    assert c1['bg_count'] > c0['bg_count']
    assert data['steps'][1]['mIoU_inc'] is not None


def test_star_lite_zero_storage_stores_nothing(tiny_voc, tmp_path):
    work_dir = str(tmp_path / 'lite0')
    cfg = demo_cfg('star-lite', tiny_voc, work_dir, **{
        'custom_hooks.0.recognition_iters': 50,
        'custom_hooks.0.counts': 'estimated',
        'custom_hooks.0.extraction': 'filtered',
        'custom_hooks.0.noise': 'extracted'})
    data = StepScheduler(cfg).run()
    assert [s['replay_bytes'] for s in data['steps']] == [0, 0]
    files = [f for _, _, fs in os.walk(work_dir) for f in fs]
    assert not [f for f in files if f.startswith(('prototypes', 'counts'))]
    assert data['steps'][1]['mIoU_inc'] is not None


def test_star_lite_refuses_stored_prototypes(tiny_voc, tmp_path):
    cfg = demo_cfg('star-lite', tiny_voc, str(tmp_path))
    cfg.custom_hooks = list(cfg.custom_hooks) + [
        dict(type='PrototypeReplayHook')]
    with pytest.raises(ValueError, match='cannot be combined with stored'):
        StepScheduler(cfg).run()


def test_checkpoint_without_cisseg_meta_is_refused(tiny_voc, tmp_path):
    import torch
    path = str(tmp_path / 'plain.pth')
    torch.save(dict(state_dict={}, meta={}), path)
    sched = StepScheduler(demo_cfg('finetune', tiny_voc, str(tmp_path)))
    with pytest.raises(ValueError, match=r"plain\.pth: not a cisseg "
                       r"checkpoint \(no meta\['cisseg'\]\); expected step 2"):
        sched.check_checkpoint(path, 2)


def test_finished_steps_release_their_log_files(star_run):
    """Each step's Runner logs to step_<t>/<time>/<time>.log; once the step
    is done no logger holds that file open (a protocol of many steps would
    otherwise keep one open file per past step)."""
    import logging

    from mmengine.logging import MMLogger
    work_dir, _ = star_run
    logs = glob.glob(osp.join(work_dir, 'step_*', '*', '*.log'))
    assert {osp.basename(osp.dirname(osp.dirname(p))) for p in logs} == \
        {'step_0', 'step_1'}
    still_open = [
        h.baseFilename for logger in MMLogger._instance_dict.values()
        for h in logger.handlers
        if isinstance(h, logging.FileHandler) and h.stream is not None and
        h.baseFilename.startswith(osp.realpath(work_dir))]
    assert still_open == []


def test_finished_steps_drop_their_visualizers(star_run):
    """mmengine registers every Runner's visualizer (one per step, each
    with a figure); a finished step's is dropped, so a long protocol does
    not keep one per past step."""
    from mmengine.visualization import Visualizer
    work_dir, _ = star_run
    assert glob.glob(osp.join(work_dir, 'step_*', '*', 'vis_data'))
    kept = [name for name, vis in Visualizer._instance_dict.items()
            for backend in vis._vis_backends.values()
            if osp.realpath(str(getattr(backend, '_save_dir', '')))
            .startswith(osp.realpath(work_dir))]
    assert kept == []
