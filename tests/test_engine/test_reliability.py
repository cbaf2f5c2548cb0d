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

import pytest
import torch

from cisseg.datasets import ensure_synthetic_voc, generate_synthetic_voc
from cisseg.engine import StepScheduler
from cisseg.engine.checkpoint import safe_load
from cisseg.models.utils import PrototypeBank
from tests.test_engine.conftest import train


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


def test_safe_load_without_safe_globals(tmp_path, monkeypatch):
    """torch 2.4 has ``add_safe_globals`` but no ``safe_globals`` context:
    the allow-list is added for the process, and a checkpoint with the
    message hub's HistoryBuffer loads; other globals are still refused."""
    from mmengine.logging.history_buffer import HistoryBuffer

    from cisseg.engine.checkpoint import safe_load
    path = str(tmp_path / 'iter_1.pth')
    torch.save(dict(state_dict=dict(w=torch.ones(2)),
                    message_hub=dict(loss=HistoryBuffer([1.0, 2.0], [1, 1]))), path)
    added = []
    serialization = torch.serialization
    monkeypatch.delattr(serialization, 'safe_globals', raising=False)
    real_add = serialization.add_safe_globals
    monkeypatch.setattr(serialization, 'add_safe_globals',
                        lambda g: (added.extend(g), real_add(g)))
    try:
        ckpt = safe_load(path)
    finally:
        serialization.clear_safe_globals()
    assert HistoryBuffer in added
    assert ckpt['message_hub']['loss'].data[0].tolist() == [1.0, 2.0]
    assert torch.equal(ckpt['state_dict']['w'], torch.ones(2))


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
