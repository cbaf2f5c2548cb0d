"""ExemplarMemoryHook, ``incremental.memory`` in the step configs, and the
memory through whole runs (kill, --resume, a step 0 without memory)."""
import json
import os
import os.path as osp
import shutil
from types import SimpleNamespace

import pytest
import torch
from mmengine.structures import PixelData

from cisseg.datasets import build_protocol
from cisseg.datasets.memory import memory_file
from cisseg.engine import StepScheduler
from cisseg.engine.hooks import ExemplarMemoryHook
from cisseg.engine.hooks.exemplar_memory_hook import (
    build_memory_from_checkpoint, ensure_memory)
from mmseg.structures import SegDataSample
from tests.test_engine.conftest import train
from tests.test_engine.test_step_scheduler import demo_cfg

MEMORY = {'incremental.memory.size': 3}


class FakeSegmentor(torch.nn.Module):
    """``test_step`` returns given class scores (background first)."""

    def __init__(self, scores, labels, formulation):
        super().__init__()
        self.scores, self.labels = scores, labels
        self.decode_head = SimpleNamespace(formulation=formulation)

    def test_step(self, batch):
        i = batch['index'][0]
        sample = SegDataSample()
        sample.seg_logits = PixelData(data=self.scores[i])
        sample.gt_sem_seg = PixelData(data=self.labels[i][None])
        return [sample]


def _logits(num, fg_logits, bg=0.0, rest=-10.0):
    """(num, 2, 2) scores: channel 0 = bg, ``fg_logits`` {(train id, y,
    x): logit}, every other foreground logit ``rest``."""
    s = torch.full((num, 2, 2), rest)
    s[0] = bg
    for (t, y, x), v in fg_logits.items():
        s[t, y, x] = v
    return s


@pytest.mark.parametrize('formulation', ['sigmoid', 'softmax'])
def test_pseudo_labels_by_hand(formulation, tmp_path):
    protocol = dict(dataset='voc', task='15-1', setting='overlap',
                    order_seed=4)
    proto = build_protocol(**protocol)
    hook = ExemplarMemoryHook(1, protocol, str(tmp_path))
    labels = [torch.tensor([[0, 0], [16, 255]]), torch.zeros(2, 2).long()]
    # sigmoid(3) = softmax of (0, 3, 15 x -10) at 3 = 0.95 >= 0.9;
    # sigmoid(2) = 0.88 < 0.9. Only pixels labelled background count.
    scores = [_logits(17, {(5, 0, 0): 3.0, (7, 0, 1): 2.0, (9, 1, 0): 5.0,
                           (2, 1, 1): 5.0}),
              _logits(17, {(16, 1, 1): 4.0})]
    model = FakeSegmentor(scores, labels, formulation)
    dataset = [dict(index=0), dict(index=1)]
    found = hook._pseudo_classes(SimpleNamespace(model=model), dataset)
    seen = proto.seen_classes(1)  # train id -> dataset id (shuffled order)
    assert found == [[seen[5]], [seen[16]]]
    # the shuffled order tests the mapping: train ids 5, 7, 16 are 14, 1, 8
    assert [seen[5], seen[7], seen[16]] == [14, 1, 8]
    hook.score_thr = 0.8  # now sigmoid(2) = 0.88 counts too
    found = hook._pseudo_classes(SimpleNamespace(model=model), dataset)
    assert found == [sorted([seen[5], seen[7]]), [seen[16]]]


def test_memory_in_the_step_configs(tiny_voc, tmp_path):
    sched = StepScheduler(demo_cfg('finetune', tiny_voc, str(tmp_path),
                                   **MEMORY, **{'randomness.seed': 4}))
    c0, c1 = sched.config_for_step(0), sched.config_for_step(1, 'x.pth')
    for c in (c0, c1):
        hook = [h for h in c.custom_hooks
                if h['type'] == 'ExemplarMemoryHook']
        assert len(hook) == 1 and hook[0]['size'] == 3
        assert hook[0]['work_dir'] == osp.abspath(str(tmp_path))
    assert c0.train_dataloader.dataset.get('memory_file') is None
    assert c1.train_dataloader.dataset.memory_file == memory_file(
        osp.abspath(str(tmp_path)), 0)
    assert c1.train_dataloader.dataset.memory_labels == 'step'
    # off: size 0 or no memory section
    for extra in ({'incremental.memory.size': 0}, {}):
        c = StepScheduler(demo_cfg('finetune', tiny_voc, str(tmp_path),
                                   **extra)).config_for_step(1, 'x.pth')
        assert 'memory_file' not in c.train_dataloader.dataset
        assert all(h['type'] != 'ExemplarMemoryHook'
                   for h in c.custom_hooks)
    for bad, match in (({'incremental.memory.sizes': 3}, 'unknown keys'),
                       ({'incremental.memory.size': -1}, 'size must be'),
                       ({'incremental.memory.rule': 'herding'},
                        'unknown rule'),
                       ({'incremental.memory.labels': 'all'},
                        'labels must be one of')):
        s = StepScheduler(demo_cfg('finetune', tiny_voc, str(tmp_path),
                                   **dict(MEMORY, **bad)))
        with pytest.raises(ValueError, match=match):
            s.config_for_step(0)


def _read(path):
    with open(path) as f:
        return json.load(f)


def _files_bytes(root, images):
    return sum(os.path.getsize(osp.join(root, img[k])) for img in images
               for k in ('img_path', 'seg_map_path'))


@pytest.mark.slow
def test_memory_through_a_run(tiny_voc, tmp_path):
    work_dir = str(tmp_path / 'run')
    cfg = demo_cfg('star-basic', tiny_voc, work_dir, **MEMORY)
    sched = StepScheduler(cfg)
    data = sched.run()
    proto = sched.protocol
    mem0 = _read(memory_file(work_dir, 0))
    mem1 = _read(memory_file(work_dir, 1))
    for step, mem in ((0, mem0), (1, mem1)):
        entry = data['steps'][step]
        assert mem['step'] == step and mem['seed'] == 1
        assert len(mem['images']) == entry['memory_images'] == 3
        assert len({m['seg_map_path'] for m in mem['images']}) == 3
        assert entry['memory_bytes'] == mem['memory_bytes'] == \
            _files_bytes(tiny_voc, mem['images'])
        assert entry['replay_bytes'] > 0
        seen = set(proto.seen_classes(step)) - {0}
        for m in mem['images']:
            assert m['picked_for'] in m['classes']
            assert set(m['classes']) <= seen
    # step 0's memory: images of step 0 with their base classes, one per
    # class picked (3 < 15 classes)
    assert len({m['picked_for'] for m in mem0['images']}) == 3
    # step 1 trained on its images plus step 0's memory
    step1 = StepScheduler(cfg).config_for_step(1, 'x.pth')
    from mmseg.registry import DATASETS
    ds = DATASETS.build(step1.train_dataloader.dataset)
    assert len(ds) == data['steps'][1]['train_images'] == \
        len(ds.image_classes) + 3
    assert 'memory_images' in StepScheduler.table(data)

    # built again from the checkpoint (as on --resume): the same file
    with open(memory_file(work_dir, 1), 'rb') as f:
        before = f.read()
    os.remove(memory_file(work_dir, 1))
    ckpt = osp.join(work_dir, data['steps'][1]['checkpoint'])
    fields = build_memory_from_checkpoint(
        sched.config_for_step(1, ckpt, test_only=True))
    assert fields == dict(memory_images=3, memory_bytes=mem1['memory_bytes'])
    with open(memory_file(work_dir, 1), 'rb') as f:
        assert f.read() == before

    # a run reusing a step 0 trained without memory builds its memory
    # from the step-0 checkpoint before step 1: the same memory
    plain = str(tmp_path / 'plain')
    shutil.copytree(osp.join(work_dir, 'step_0'), osp.join(plain, 'step_0'))
    os.remove(memory_file(plain, 0))
    metrics = dict(data, steps=[{k: v for k, v in data['steps'][0].items()
                                 if not k.startswith('memory')}])
    with open(osp.join(plain, 'metrics.json'), 'w') as f:
        json.dump(metrics, f)
    again = StepScheduler(demo_cfg('star-basic', tiny_voc, plain, **MEMORY),
                          resume=True)
    metrics = ensure_memory(again, again.load_metrics(), 0)
    assert _read(memory_file(plain, 0)) == mem0
    assert metrics['steps'][0]['memory_images'] == 3
    assert _read(osp.join(plain, 'metrics.json'))['steps'][0][
        'memory_bytes'] == mem0['memory_bytes']


@pytest.mark.slow
def test_memory_survives_a_kill(kill_setup, tmp_path):
    cfg, env, options = kill_setup
    setup = (cfg, env, options + ['incremental.memory.size=3'])
    ref = str(tmp_path / 'ref')
    code, log = train(setup, ref)
    assert code == 0, log

    # killed while step 1's memory is put in place (after an uninterrupted
    # step 1): step 0's memory is on disk, whole, step 1's not at all;
    # --resume builds the same memory again
    run = str(tmp_path / 'run')
    code, log = train(setup, run, kill='save:step_1/memory.json')
    assert code == -9, log
    assert _read(memory_file(run, 0)) == _read(memory_file(ref, 0))
    assert not osp.exists(memory_file(run, 1))
    code, log = train(setup, run, resume=True)
    assert code == 0, log
    for step in (0, 1):
        assert _read(memory_file(run, step)) == _read(memory_file(ref, step))
    assert [e['memory_bytes'] for e in
            _read(osp.join(run, 'metrics.json'))['steps']] == \
        [e['memory_bytes'] for e in
         _read(osp.join(ref, 'metrics.json'))['steps']]
