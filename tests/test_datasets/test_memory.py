"""Exemplar memory: selection rules, the memory file, memory images in a
step's training set and their labels."""
import json
import os
import os.path as osp

import numpy as np
import pytest

from cisseg.datasets import IncrementalSegDataset
from cisseg.datasets.memory import (balanced_selection, load_memory,
                                    memory_bytes, merge_candidates,
                                    random_selection, select_memory)
from tests.conftest import write_voc


class InOrder:
    """An rng whose permutations keep the order (to trace by hand)."""

    def permutation(self, n):
        return np.arange(n)


def cand(name, classes):
    return dict(img_path=f'JPEGImages/{name}.jpg',
                seg_map_path=f'SegmentationClass/{name}.png',
                classes=classes)


# name -> classes; 'f' holds no foreground class
TABLE = [('a', [1]), ('b', [1, 2]), ('c', [2]), ('d', [3]), ('e', [1, 3]),
         ('f', []), ('g', [2])]


def picked(result):
    return [(osp.basename(r['img_path'])[0], r['picked_for'])
            for r in result]


def test_balanced_selection_by_hand():
    cands = [cand(n, c) for n, c in TABLE]
    # classes in turn, first remaining candidate holding the class:
    # round 1: 1 -> a, 2 -> b, 3 -> d; round 2: 1 -> e, 2 -> c (5 taken)
    out = balanced_selection(cands, [1, 2, 3], 5, InOrder())
    assert picked(out) == [('a', 1), ('b', 2), ('d', 3), ('e', 1),
                           ('c', 2)]
    # size beyond the candidates holding a class: round 2 goes on with
    # 3 -> none left, round 3: 2 -> g, then nothing: stops at 6, never 'f'
    out = balanced_selection(cands, [1, 2, 3], 10, InOrder())
    assert picked(out) == [('a', 1), ('b', 2), ('d', 3), ('e', 1),
                           ('c', 2), ('g', 2)]
    # only the given classes count: class 3 is not in the memory's classes
    out = balanced_selection(cands, [2], 10, InOrder())
    assert picked(out) == [('b', 2), ('c', 2), ('g', 2)]
    assert balanced_selection(cands, [1, 2, 3], 0, InOrder()) == []


def test_balanced_selection_with_a_seed():
    rng = np.random.default_rng(0)
    cands = [cand(f'{i:03d}', [int(c) for c in rng.choice(
        np.arange(1, 11), size=rng.integers(1, 4), replace=False)])
        for i in range(200)]
    # a rare class: only one image holds 11
    cands.append(cand('rare', [11]))
    classes = list(range(1, 12))
    out = select_memory(cands, classes, 22, 'balanced', seed=1, step=2)
    names = [o['seg_map_path'] for o in out]
    assert len(out) == 22 and len(set(names)) == 22
    assert names == sorted(names)
    # round 1 takes one image per class (11 of them), round 2 ten more
    # (class 11 has no image left), round 3's first class the 22nd
    counts = {c: sum(o['picked_for'] == c for o in out) for c in classes}
    assert counts[11] == 1 and sorted(counts.values()) == [1] + [2] * 9 + [3]
    for o in out:
        assert o['picked_for'] in o['classes']
    # the same seed and step give the same memory, another seed another
    assert out == select_memory(cands, classes, 22, 'balanced', 1, 2)
    assert out != select_memory(cands, classes, 22, 'balanced', 2, 2)
    assert out != select_memory(cands, classes, 22, 'balanced', 1, 3)


def test_random_selection():
    cands = [cand(n, c) for n, c in TABLE]
    out = random_selection(cands, [1, 2, 3], 4, np.random.default_rng(0))
    assert len(out) == 4 and 'f' not in [n for n, _ in picked(out)]
    assert len({o['img_path'] for o in out}) == 4
    with pytest.raises(ValueError, match='unknown rule'):
        select_memory(cands, [1], 2, 'herding', 0, 0)


def test_merge_candidates_one_per_image():
    merged = merge_candidates([cand('a', [1]), cand('b', [2])],
                              [cand('b', [16]), cand('c', [16])])
    assert [(m['seg_map_path'], m['classes']) for m in merged] == [
        ('SegmentationClass/a.png', [1]), ('SegmentationClass/b.png', [2, 16]),
        ('SegmentationClass/c.png', [16])]


def test_memory_bytes_counts_image_and_label_files(tmp_path):
    for sub, name, size in (('JPEGImages', 'a.jpg', 100),
                            ('SegmentationClass', 'a.png', 7),
                            ('JPEGImages', 'b.jpg', 1000),
                            ('SegmentationClass', 'b.png', 30)):
        os.makedirs(tmp_path / sub, exist_ok=True)
        (tmp_path / sub / name).write_bytes(b'x' * size)
    assert memory_bytes([cand('a', [1]), cand('b', [2])],
                        str(tmp_path)) == 1137
    with pytest.raises(FileNotFoundError, match='c.jpg'):
        memory_bytes([cand('c', [1])], str(tmp_path))


def test_load_memory_checks_step_and_protocol(tmp_path):
    path = str(tmp_path / 'memory.json')
    with pytest.raises(FileNotFoundError, match='previous step'):
        load_memory(path, 0)
    with open(path, 'w') as f:
        json.dump(dict(step=1, protocol=[[0, 1], [2]], images=[]), f)
    assert load_memory(path, 1, [[0, 1], [2]])['step'] == 1
    with pytest.raises(ValueError, match='memory of step 1, expected step 0'):
        load_memory(path, 0)
    with pytest.raises(ValueError, match='expected \\[\\[0, 1, 2\\]'):
        load_memory(path, 1, [[0, 1, 2]])


# ------------------------------------------------- memory in a step's data
FIXTURE = {'a': [1, 5], 'b': [16], 'c': [3, 16], 'd': [16, 19], 'e': [17],
           'g': [2, 18]}


def _label(classes):
    lab = np.zeros((8, 8), np.uint8)
    for i, c in enumerate(classes):
        lab[2 * i:2 * i + 2, :4] = c
    lab[7, 7] = 255
    return lab


@pytest.fixture
def voc_memory(tmp_path):
    root = str(tmp_path / 'voc')
    write_voc(root, [(n, _label(c)) for n, c in FIXTURE.items()], 'train')
    path = str(tmp_path / 'memory.json')
    with open(path, 'w') as f:
        json.dump(dict(step=0, protocol=[[0] + list(range(1, 16))] +
                       [[c] for c in range(16, 21)],
                       images=[cand('a', [1, 5]), cand('c', [3])]), f)
    return root, path


def _dataset(root, step, memory_file=None, memory_labels='step'):
    return IncrementalSegDataset(
        dataset=dict(
            type='PascalVOCDataset', data_root=root,
            data_prefix=dict(img_path='JPEGImages',
                             seg_map_path='SegmentationClass'),
            ann_file='ImageSets/Segmentation/train.txt',
            pipeline=[dict(type='LoadImageFromFile'),
                      dict(type='LoadAnnotations'),
                      dict(type='PackSegInputs')]),
        protocol=dict(dataset='voc', task='15-1', setting='overlap'),
        step=step, split='train', cache_dir=osp.join(root, 'cache'),
        memory_file=memory_file, memory_labels=memory_labels)


def _seg(ds, i):
    return ds[i]['data_samples'].gt_sem_seg.data.numpy()[0]


def _name(ds, i):
    return osp.basename(ds.get_data_info(i)['img_path'])[0]


@pytest.mark.parametrize('labels,a_rows,c_rows', [
    # 'step' (the authors'): old classes 1, 5, 3 are background; 'c' holds
    # the new class 16, labelled in its memory copy too
    ('step', [0, 0], [0, 16]),
    # 'seen': every class seen at step 1 keeps its train id
    ('seen', [1, 5], [3, 16]),
])
def test_memory_images_follow_the_step_images(voc_memory, labels, a_rows,
                                              c_rows):
    root, path = voc_memory
    plain = _dataset(root, 1)
    ds = _dataset(root, 1, path, labels)
    # step 1 trains on b, c, d; the memory adds a and c (c twice, as the
    # authors' concatenated memory set)
    assert [_name(plain, i) for i in range(len(plain))] == ['b', 'c', 'd']
    assert [_name(ds, i) for i in range(len(ds))] == ['b', 'c', 'd', 'a',
                                                      'c']
    assert _name(ds, -1) == 'c' and _name(ds, -3) == 'd'
    assert ds.image_classes == [[0, 16], [0, 3, 16], [0, 16, 19]]
    a, c = _seg(ds, 3), _seg(ds, 4)
    assert [a[0, 0], a[2, 0]] == a_rows and [c[0, 0], c[2, 0]] == c_rows
    assert a[7, 7] == 255 and (a[:, 4:7] == 0).all()
    # the step's own copy of 'c' keeps the step's labels
    assert [_seg(ds, 1)[0, 0], _seg(ds, 1)[2, 0]] == [0, 16]


def test_memory_of_another_dataset_or_step_is_refused(voc_memory, tmp_path):
    root, path = voc_memory
    with pytest.raises(ValueError, match='training split of a step > 0'):
        _dataset(root, 0, path)
    with pytest.raises(ValueError, match='memory of step 0, expected step 1'):
        _dataset(root, 2, path)
    other = str(tmp_path / 'other.json')
    with open(path) as f:
        data = json.load(f)
    data['images'].append(cand('zz', [2]))
    with open(other, 'w') as f:
        json.dump(data, f)
    with pytest.raises(ValueError, match='SegmentationClass/zz.png is not a '
                       'training image'):
        _dataset(root, 1, other)
    with pytest.raises(ValueError, match='memory_labels must be one of'):
        _dataset(root, 1, path, 'all')


def test_memory_subset_does_not_use_mmengine_shared_copy_memo(
        voc_memory, monkeypatch):
    # mmengine's BaseDataset.get_subset copies through
    # _copy_without_annotation(memo=dict()): one memo for every call, so
    # after an earlier copy an object whose id was reused came back in place
    # of a pipeline transform. Here that memo answers a stale object for
    # every id: the memory images must still load with their own pipeline.
    from mmengine.dataset import BaseDataset

    class StaleMemo(dict):

        def get(self, key, default=None):
            return 'a stale object of an earlier copy'

    monkeypatch.setattr(BaseDataset._copy_without_annotation, '__defaults__',
                        (StaleMemo(), ))
    root, path = voc_memory
    ds = _dataset(root, 1, path, 'seen')
    names = [type(t).__name__ for t in ds.memory_dataset.pipeline.transforms]
    assert names == ['LoadImageFromFile', 'LoadAnnotations', 'StepLabelRemap',
                     'PackSegInputs']
    # the step's own pipeline is not touched by the memory's remap
    assert [type(t).__name__ for t in ds.dataset.pipeline.transforms] == [
        'LoadImageFromFile', 'LoadAnnotations', 'StepLabelRemap',
        'PackSegInputs']
    assert ds.memory_dataset.pipeline is not ds.dataset.pipeline
    # 'seen' labels for the memory's 'a', the step's labels for 'c'
    a = _seg(ds, 3)
    assert [a[0, 0], a[2, 0]] == [1, 5] and a[7, 7] == 255
    assert [_seg(ds, 1)[0, 0], _seg(ds, 1)[2, 0]] == [0, 16]
