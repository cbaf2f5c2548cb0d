import os
import os.path as osp

import numpy as np
import pytest

from cisseg.datasets import IncrementalSegDataset
from cisseg.datasets.class_cache import image_classes
from tests.conftest import write_voc

# Image name -> classes it holds (besides background 0).
FIXTURE = {'a': [1], 'b': [16], 'c': [3, 16], 'd': [16, 19], 'e': [17],
           'f': [], 'g': [2, 18]}


def _label(classes):
    lab = np.zeros((8, 8), np.uint8)
    for i, c in enumerate(classes):
        lab[2 * i:2 * i + 2, :4] = c
    lab[7, 7] = 255
    return lab


@pytest.fixture
def voc_fixture(tmp_path):
    root = str(tmp_path / 'voc')
    write_voc(root, [(n, _label(c)) for n, c in FIXTURE.items()], 'train')
    write_voc(root, [('v', _label([1, 16, 20]))], 'val')
    return root


def _dataset(root, step, split='train', setting='overlap', task='15-1'):
    ann = 'train.txt' if split == 'train' else 'val.txt'
    return IncrementalSegDataset(
        dataset=dict(
            type='PascalVOCDataset', data_root=root,
            data_prefix=dict(img_path='JPEGImages',
                             seg_map_path='SegmentationClass'),
            ann_file='ImageSets/Segmentation/' + ann,
            pipeline=[dict(type='LoadImageFromFile'),
                      dict(type='LoadAnnotations'),
                      dict(type='PackSegInputs')]),
        protocol=dict(dataset='voc', task=task, setting=setting),
        step=step, split=split, cache_dir=osp.join(root, 'cache'))


def _names(ds):
    return sorted(osp.splitext(osp.basename(ds.get_data_info(i)['img_path']))
                  [0] for i in range(len(ds)))


@pytest.mark.parametrize('setting,step,expected', [
    ('overlap', 0, ['a', 'c', 'g']),
    ('disjoint', 0, ['a']),
    ('overlap', 1, ['b', 'c', 'd']),
    ('disjoint', 1, ['b', 'c']),
    ('overlap', 2, ['e']),
    ('disjoint', 3, ['g']),
])
def test_step_selection(voc_fixture, setting, step, expected):
    assert _names(_dataset(voc_fixture, step, setting=setting)) == expected


def test_train_labels_keep_only_new_classes(voc_fixture):
    ds = _dataset(voc_fixture, 1)
    item = ds[_names(ds).index('c')]
    seg = item['data_samples'].gt_sem_seg.data.numpy()[0]
    # 'c' holds 3 (old -> background) and 16 (new, train id 16)
    assert sorted(np.unique(seg)) == [0, 16, 255]
    assert (seg[2:4, :4] == 16).all() and (seg[0:2, :4] == 0).all()


def test_test_labels_hide_unseen_classes(voc_fixture):
    ds = _dataset(voc_fixture, 1, split='test')
    assert len(ds) == 1
    seg = ds[0]['data_samples'].gt_sem_seg.data.numpy()[0]
    assert sorted(np.unique(seg)) == [0, 1, 16, 255]  # 20 unseen -> 0
    meta = ds.metainfo
    assert len(meta['classes']) == 17 and meta['num_base_classes'] == 16
    assert meta['classes'][16] == 'pottedplant'


def test_class_lists_are_cached(voc_fixture, monkeypatch):
    _dataset(voc_fixture, 0)
    cache = osp.join(voc_fixture, 'cache')
    files = os.listdir(cache)
    assert len(files) == 1
    # Second build reads the cache, no label map
    import cisseg.datasets.class_cache as cc
    monkeypatch.setattr(cc, 'read_label', None)
    assert _names(_dataset(voc_fixture, 0)) == ['a', 'c', 'g']
    # a label map removed since is not taken from the cache: named
    monkeypatch.undo()
    os.remove(osp.join(voc_fixture, 'SegmentationClass', 'a.png'))
    with pytest.raises(FileNotFoundError, match=r'a\.png: cannot read'):
        _dataset(voc_fixture, 0)


def test_bad_label_value_names_the_file(voc_fixture):
    write_voc(voc_fixture, [('bad', np.full((8, 8), 23, np.uint8))])
    with pytest.raises(ValueError, match=r'bad\.png: label values \[23\]'):
        _dataset(voc_fixture, 0)


def test_bad_label_at_test_time_names_the_file(voc_fixture):
    write_voc(voc_fixture, [('badval', np.full((8, 8), 30, np.uint8))],
              'val')
    ds = _dataset(voc_fixture, 0, split='test')
    with pytest.raises(ValueError, match=r'badval\.png: label values \[30\] '
                       r'are not classes of this dataset \(expected 0\.\.20 '
                       r'or 255\)'):
        ds[1]


def test_missing_data_root(tmp_path):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        _dataset(str(tmp_path / 'nowhere'), 0)


def test_empty_step_says_which_classes(voc_fixture):
    # disjoint step 5 (class 20): no training image holds it
    with pytest.raises(ValueError, match=r'new classes \[20\]'):
        _dataset(voc_fixture, 5, setting='disjoint')


def test_image_classes_reads_labels(tmp_path):
    root = write_voc(str(tmp_path / 'v'), [('x', _label([4, 9]))])
    path = osp.join(root, 'SegmentationClass', 'x.png')
    assert image_classes([path], 21, str(tmp_path / 'c')) == [[0, 4, 9]]


def test_image_classes_cache_follows_the_label_files(tmp_path, monkeypatch):
    """A label map rewritten since the cache was written (a regenerated
    dataset) is read again, values checked; the others come from the cache;
    a cache file that does not parse is rebuilt."""
    import cisseg.datasets.class_cache as cc
    root = write_voc(str(tmp_path / 'v'), [('x', _label([4, 9])),
                                          ('y', _label([2]))])
    paths = [osp.join(root, 'SegmentationClass', f'{n}.png')
             for n in 'xy']
    cache = str(tmp_path / 'c')
    assert image_classes(paths, 21, cache) == [[0, 4, 9], [0, 2]]
    read = []
    real = cc.label_classes
    monkeypatch.setattr(cc, 'label_classes',
                        lambda p, *a: read.append(p) or real(p, *a))
    assert image_classes(paths, 21, cache) == [[0, 4, 9], [0, 2]]
    assert read == []  # all from the cache
    write_voc(root, [('x', _label([7, 13, 5]))])  # same name, new content
    os.utime(paths[0], ns=(1, 1))  # another mtime even on coarse clocks
    assert image_classes(paths, 21, cache) == [[0, 5, 7, 13], [0, 2]]
    assert read == [paths[0]]
    write_voc(root, [('x', _label([42]))])
    os.utime(paths[0], ns=(2, 2))
    with pytest.raises(ValueError, match=r'x.png: label values \[42\]'):
        image_classes(paths, 21, cache)
    (cache_file, ) = [osp.join(cache, f) for f in os.listdir(cache)]
    with open(cache_file, 'w') as f:
        f.write('{"truncated')
    write_voc(root, [('x', _label([3]))])
    assert image_classes(paths, 21, cache) == [[0, 3], [0, 2]]
    # the class count is part of the key: labels are checked against it
    with pytest.raises(ValueError, match=r'x.png: label values \[3\]'):
        image_classes(paths, 2, cache)
