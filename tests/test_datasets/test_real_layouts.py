"""The real datasets' configs on small fixtures in each dataset's layout.

Each fixture is a dozen label maps written in the exact on-disk layout of
Pascal VOC 2012 + SBD, ADE20K and Cityscapes (VOC aug and Cityscapes through
our converters), loaded through the leaf configs' dataset sections, so the
folders, suffixes, label conventions and per-step selections are checked by
hand-worked numbers.
"""
import glob
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest
from PIL import Image

from cisseg.engine import StepScheduler, load_config
from mmseg.registry import DATASETS
from tests.conftest import REPO, load_script


def _tool(name):
    path = osp.join(REPO, 'tools', 'dataset_converters', name + '.py')
    return load_script(path, f'_conv_{name}')


def _label(values, size=16, void=False):
    """A size x size label: value i fills rows 3i..3i+2 (left half)."""
    lab = np.zeros((size, size), np.uint8)
    for i, v in enumerate(values):
        lab[3 * i:3 * i + 3, :size // 2] = v
    if void:
        lab[-1, -1] = 255
    return lab


def _image(path, size=16):
    os.makedirs(osp.dirname(path), exist_ok=True)
    cv2.imwrite(path, np.full((size, size, 3), 100, np.uint8))


def _png(path, label, palette=None):
    os.makedirs(osp.dirname(path), exist_ok=True)
    img = Image.fromarray(label, mode='P' if palette else 'L')
    if palette:
        img.putpalette(palette)
    img.save(path)


# ----------------------------------------------------------- Pascal VOC aug
# name -> VOC classes (besides background). 000001-000003 have VOC 2012
# labels (VOC train), the others only SBD ones.
VOC_TRAIN = {
    '2008_000001': [1], '2008_000002': [15], '2008_000003': [16],
    '2008_000004': [1, 16], '2008_000005': [17], '2008_000006': [5, 20],
    '2008_000007': [18, 19], '2008_000008': [2], '2008_000009': [3, 4],
    '2008_000010': [16, 20], '2008_000011': [19], '2008_000012': [10, 11]
}
VOC_VAL = {'2009_000001': [1, 16, 20], '2009_000002': [7],
           '2009_000003': [18, 15], '2009_000004': []}
VOC_ONLY = ('2008_000001', '2008_000002', '2008_000003')


@pytest.fixture(scope='module')
def voc_root(tmp_path_factory):
    """VOCdevkit + SBD's benchmark_RELEASE, then our voc_aug converter."""
    from scipy.io import savemat
    from cisseg.datasets.synthetic import voc_palette
    base = str(tmp_path_factory.mktemp('voc'))
    voc = osp.join(base, 'VOCdevkit', 'VOC2012')
    sbd = osp.join(base, 'VOCdevkit', 'VOCaug')
    sets = osp.join(voc, 'ImageSets', 'Segmentation')
    os.makedirs(sets)
    os.makedirs(osp.join(sbd, 'dataset', 'cls'))
    for name, classes in {**VOC_TRAIN, **VOC_VAL}.items():
        _image(osp.join(voc, 'JPEGImages', name + '.jpg'))
        if name in VOC_ONLY or name in VOC_VAL:  # VOC's palette PNGs
            _png(osp.join(voc, 'SegmentationClass', name + '.png'),
                 _label(classes, void=True), voc_palette())
    sbd_names = [n for n in VOC_TRAIN if n not in VOC_ONLY]
    # SBD also covers a VOC train image (its VOC label must win) and a VOC
    # val image (it must not be trained on)
    for name in sbd_names + ['2008_000001', '2009_000001']:
        classes = [9] if name == '2008_000001' else (VOC_TRAIN.get(name) or
                                                    VOC_VAL[name])
        savemat(osp.join(sbd, 'dataset', 'cls', name + '.mat'),
                {'GTcls': {'Segmentation': _label(classes),
                           'CategoriesPresent': np.array(classes)}})
    for fname, names in (
            (osp.join(sets, 'train.txt'), VOC_ONLY),
            (osp.join(sets, 'val.txt'), list(VOC_VAL)),
            (osp.join(sbd, 'dataset', 'train.txt'),
             sbd_names[:5] + ['2009_000001']),
            (osp.join(sbd, 'dataset', 'val.txt'),
             sbd_names[5:] + ['2008_000001'])):
        with open(fname, 'w') as f:
            f.write('\n'.join(names) + '\n')
    counts = _tool('voc_aug').convert(osp.join(base, 'VOCdevkit'), sbd)
    assert counts == dict(trainaug=12, aug=9, voc=3, sbd=9)
    return voc


def test_voc_aug_converter(voc_root):
    sets = osp.join(voc_root, 'ImageSets', 'Segmentation')
    with open(osp.join(sets, 'trainaug.txt')) as f:
        assert f.read().split() == sorted(VOC_TRAIN)
    with open(osp.join(sets, 'aug.txt')) as f:
        assert f.read().split() == sorted(set(VOC_TRAIN) - set(VOC_ONLY))
    aug = osp.join(voc_root, 'SegmentationClassAug')
    with Image.open(osp.join(aug, '2008_000001.png')) as img:
        assert img.mode == 'L'
        assert np.array_equal(np.asarray(img), _label([1], void=True))
    with Image.open(osp.join(aug, '2008_000006.png')) as img:
        assert np.array_equal(np.asarray(img), _label([5, 20]))
    assert not osp.exists(osp.join(aug, '2009_000001.png'))


def _step_cfg(config, data_root, work_dir, step, **options):
    cfg = load_config(osp.join(REPO, 'configs', config),
                      dict(data_root=data_root, work_dir=work_dir, **options))
    sched = StepScheduler(cfg)
    return sched, sched.config_for_step(step, 'prev.pth' if step else None)


def _build(cfg, split='train'):
    return DATASETS.build(cfg[f'{split}_dataloader'].dataset)


def _names(ds):
    return sorted(
        osp.basename(ds.get_data_info(i)['img_path']).split('.')[0].replace(
            '_leftImg8bit', '') for i in range(len(ds)))


@pytest.mark.parametrize('setting,step,expected', [
    ('overlap', 0, ['2008_000001', '2008_000002', '2008_000004',
                    '2008_000006', '2008_000008', '2008_000009',
                    '2008_000012']),
    ('disjoint', 0, ['2008_000001', '2008_000002', '2008_000008',
                     '2008_000009', '2008_000012']),
    ('overlap', 1, ['2008_000003', '2008_000004', '2008_000010']),
    ('disjoint', 1, ['2008_000003', '2008_000004']),
    ('overlap', 5, ['2008_000006', '2008_000010']),
])
def test_voc_steps_through_the_config(voc_root, tmp_path, setting, step,
                                      expected):
    _, cfg = _step_cfg(
        f'star/star-basic_deeplabv3-r101_1xb24_voc-15-1-{setting}-512x512.py',
        voc_root,
        str(tmp_path), step)
    inner = cfg.train_dataloader.dataset.dataset
    assert inner.data_root == voc_root
    assert inner.data_prefix.seg_map_path == 'SegmentationClassAug'
    ds = _build(cfg)
    assert _names(ds) == expected
    cache = glob.glob(osp.join(voc_root, '.cisseg_cache',
                               'classes_trainaug_*.json'))
    assert len(cache) == 1
    with open(cache[0]) as f:
        classes = {osp.basename(k)[:-4]: v['classes']
                   for k, v in json.load(f).items()}
    assert classes['2008_000006'] == [0, 5, 20]
    assert classes['2008_000001'] == [0, 1]  # VOC's label, not SBD's 9


def test_voc_sample_through_the_real_pipeline(voc_root, tmp_path):
    _, cfg = _step_cfg('mib/mib_deeplabv3-r101_1xb24_'
                       'voc-15-1-overlap-512x512.py',
                       voc_root, str(tmp_path), 1)
    ds = _build(cfg)
    names = [osp.basename(ds.get_data_info(j)['img_path'])[:-4]
             for j in range(len(ds))]
    sample = ds[names.index('2008_000004')]  # classes 1 and 16
    assert tuple(sample['inputs'].shape) == (3, 512, 512)  # resized crop
    values = set(np.unique(sample['data_samples'].gt_sem_seg.data.numpy()))
    assert values <= {0, 16, 255}  # class 1 is old: background
    test = _build(cfg, 'test')
    # the val images with a class seen at step 1: not 2009_000004
    assert _names(test) == ['2009_000001', '2009_000002', '2009_000003']
    assert test.metainfo['classes'][:2] == ('background', 'aeroplane')
    assert len(test.metainfo['classes']) == 17
    t = [osp.basename(test.get_data_info(j)['img_path'])[:-4]
         for j in range(3)].index('2009_000001')
    gt = test[t]['data_samples']
    assert tuple(gt.ori_shape) == gt.gt_sem_seg.shape == (512, 512)
    # 20 is not seen yet: background
    assert set(np.unique(gt.gt_sem_seg.data.numpy())) == {0, 1, 16, 255}


def test_voc_tta_pipeline_remaps_every_branch(voc_root, tmp_path):
    """The paper configs' tta_pipeline (mmseg's 6 scales x 2 flips) as
    tools/test.py --tta sets it: every branch gets the step's labels."""
    _, cfg = _step_cfg('star/star-basic_deeplabv3-r101_1xb24_'
                       'voc-15-1-overlap-512x512.py',
                       voc_root, str(tmp_path), 1)
    cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
    test = _build(cfg, 'test')
    t = [osp.basename(test.get_data_info(j)['img_path'])[:-4]
         for j in range(len(test))].index('2009_000001')
    sample = test[t]
    assert len(sample['inputs']) == len(sample['data_samples']) == 12
    heights = sorted({x.shape[1] for x in sample['inputs']})
    size = sample['data_samples'][0].ori_shape[0]
    assert heights == sorted({int(size * r + 0.5)
                              for r in cfg.img_ratios})
    for gt in sample['data_samples']:
        # 20 is not seen at step 1: background, in every branch
        assert set(np.unique(gt.gt_sem_seg.data.numpy())) == {0, 1, 16, 255}


# ---------------------------------------------------------------- ADE20K
ADE_TRAIN = [[1], [100], [101], [150], [1, 101], [50, 120], [], [60],
             [149, 2], [130], [100, 150], [10, 20]]
ADE_VAL = [[1, 150], [0, 101]]


@pytest.fixture(scope='module')
def ade_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('ade') / 'ADEChallengeData2016')
    for split, labels in (('training', ADE_TRAIN), ('validation', ADE_VAL)):
        tag = 'train' if split == 'training' else 'val'
        for i, classes in enumerate(labels):
            name = f'ADE_{tag}_{i + 1:08d}'
            _image(osp.join(root, 'images', split, name + '.jpg'))
            _png(osp.join(root, 'annotations', split, name + '.png'),
                 _label(classes))
    return root


@pytest.mark.parametrize('step,expected', [
    (0, [1, 2, 5, 6, 8, 9, 11, 12]), (1, [3, 4, 5, 6, 9, 10, 11])])
def test_ade_steps_keep_zero_as_background(ade_root, tmp_path, step,
                                           expected):
    _, cfg = _step_cfg(
        'star/star-basic_deeplabv3-r101_1xb24_'
        'ade-100-50-overlap-512x512.py', ade_root,
        str(tmp_path), step)
    assert cfg.model.decode_head.loss_decode.pos_weight == 30.0
    ds = _build(cfg)
    assert _names(ds) == [f'ADE_train_{i:08d}' for i in expected]
    assert ds.dataset.reduce_zero_label is False
    with open(glob.glob(osp.join(ade_root, '.cisseg_cache', '*.json'))[0]) \
            as f:
        cache = {osp.basename(k)[:-4]: v['classes']
                 for k, v in json.load(f).items()}
    assert cache['ADE_train_00000007'] == [0]  # 0 stays 0, not 255
    assert cache['ADE_train_00000011'] == [0, 100, 150]
    test = _build(cfg, 'test')
    names = test.metainfo['classes']
    assert len(names) == (101 if step == 0 else 151)
    assert names[:3] == ('background', 'wall', 'building')
    # the val images with a class seen so far: at step 0 not the second
    # (0 and 101); unseen classes are ignored, as the authors evaluate ADE
    assert len(test) == (1 if step == 0 else 2)
    gt = test[0]['data_samples'].gt_sem_seg.data.numpy()  # classes 1, 150
    assert set(np.unique(gt)) == ({0, 1, 255} if step == 0 else {0, 1, 150})
    if step == 1:
        gt = test[1]['data_samples'].gt_sem_seg.data.numpy()
        assert set(np.unique(gt)) == {0, 101}


def test_ade_dataset_has_151_class_names():
    from cisseg.datasets import ADE20KCISSDataset
    from mmseg.datasets import ADE20KDataset
    meta = ADE20KCISSDataset.METAINFO
    assert len(meta['classes']) == len(meta['palette']) == 151
    assert meta['classes'][1:] == ADE20KDataset.METAINFO['classes']
    with pytest.raises(ValueError, match='reduce_zero_label must be False'):
        ADE20KCISSDataset(reduce_zero_label=True, lazy_init=True,
                          data_root='.', data_prefix=dict(img_path='.'))


# ------------------------------------------------------------ Cityscapes
# Cityscapes label ids per image (gtFine_labelIds); train ids in comments.
CITY_TRAIN = [
    [7, 8],  # road, sidewalk -> 0, 1
    [7, 26],  # road, car -> 0, 13
    [26],  # car -> 13
    [33],  # bicycle -> 18
    [24, 25],  # person, rider -> 11, 12
    [0, 1],  # unlabeled, ego vehicle -> void only
    [7, 31],  # road, train -> 0, 16
    [21, 23],  # vegetation, sky -> 8, 10
    [32, 4],  # motorcycle, static -> 17, void
    [27, 28],  # truck, bus -> 14, 15
    [11, 29],  # building, caravan -> 2, void
    [17, 19, 20],  # pole, traffic light, traffic sign -> 5, 6, 7
]
CITY_VAL = [[7, 26, 33]]


def _city_name(split, i):
    city = ('aachen', 'bochum')[i % 2] if split == 'train' else 'lindau'
    return city, f'{city}_{i:06d}_000019'


@pytest.fixture(scope='module')
def city_root(tmp_path_factory):
    """leftImg8bit + gtFine labelIds, then our cityscapes converter."""
    root = str(tmp_path_factory.mktemp('cityscapes'))
    for split, labels in (('train', CITY_TRAIN), ('val', CITY_VAL)):
        for i, ids in enumerate(labels):
            city, name = _city_name(split, i)
            _image(osp.join(root, 'leftImg8bit', split, city,
                            name + '_leftImg8bit.png'))
            _png(osp.join(root, 'gtFine', split, city,
                          name + '_gtFine_labelIds.png'), _label(ids))
    assert _tool('cityscapes').convert(root) == 13
    return root


def test_cityscapes_converter(city_root):
    _, name = _city_name('train', 8)
    with Image.open(osp.join(city_root, 'gtFine', 'train', 'aachen',
                             name + '_gtFine_labelTrainIds.png')) as img:
        out = np.asarray(img)
    # motorcycle -> 17, static -> void, unlabeled background (id 0) -> void
    assert np.array_equal(out, np.where(_label([32, 4]) == 32, 17, 255))
    lut = _tool('cityscapes').lookup_table()
    assert [int(lut[i]) for i in (7, 26, 33, 29, 30, 34, 0)] == [
        0, 13, 18, 255, 255, 255, 255]


@pytest.mark.parametrize('step,expected', [
    (0, [0, 1, 4, 6, 7, 10, 11]), (1, [1, 2, 3, 6, 8, 9])])
def test_cityscapes_steps(city_root, tmp_path, step, expected):
    _, cfg = _step_cfg('mib/mib_deeplabv3-r101_1xb24_'
                       'cityscapes-13-6-overlap-512x512.py',
                       city_root, str(tmp_path), step)
    ds = _build(cfg)
    assert _names(ds) == sorted(_city_name('train', i)[1] for i in expected)
    assert len(glob.glob(osp.join(city_root, '.cisseg_cache', '*.json'))) == 1


@pytest.mark.parametrize('unseen,step,expected', [
    ('background', 0, {0, 1, 255}),  # road -> 1, car & bicycle -> 0
    ('ignore', 0, {1, 255}),  # car & bicycle (future) -> 255
    ('background', 1, {1, 14, 19, 255}),  # all three seen
    ('ignore', 1, {1, 14, 19, 255}),
])
def test_cityscapes_virtual_background(city_root, tmp_path, unseen, step,
                                       expected):
    _, cfg = _step_cfg('mib/mib_deeplabv3-r101_1xb24_'
                       'cityscapes-13-6-overlap-512x512.py',
                       city_root, str(tmp_path), step,
                       **{'incremental.unseen': unseen})
    # void stays ignored without the STAR-TPAMI VoidToBackground
    test_set = cfg.test_dataloader.dataset
    for pipeline in (test_set.get('pipeline'), test_set.dataset.pipeline):
        if pipeline is not None:
            pipeline[:] = [t for t in pipeline
                           if t.type != 'VoidToBackground']
    test = _build(cfg, 'test')
    assert test.metainfo['classes'][:2] == ('background', 'road')
    gt = test[0]['data_samples'].gt_sem_seg.data.numpy()  # road, car, bike
    assert set(np.unique(gt)) == expected


@pytest.mark.parametrize('step,expected', [(0, {0, 1}), (1, {0, 1, 14, 19})])
def test_cityscapes_void_is_background_as_star_tpami(city_root, tmp_path,
                                                     step, expected):
    _, cfg = _step_cfg('star/star-basic_deeplabv3-r101_1xb24_cityscapes-13-6'
                       '-overlap-512x512.py', city_root, str(tmp_path), step)
    test = _build(cfg, 'test')
    gt = test[0]['data_samples'].gt_sem_seg.data.numpy()  # road, car, bike
    assert set(np.unique(gt)) == expected  # void (255) -> 0
    sample = _build(cfg)[0]['data_samples'].gt_sem_seg.data.numpy()
    assert 255 not in sample and sample.shape == (1, 512, 512)


# ------------------------------------------------------ missing/malformed
def test_missing_or_malformed_datasets(voc_root, ade_root, city_root,
                                       tmp_path):
    cfg_v = ('finetune/finetune_deeplabv3-r101_1xb24_'
             'voc-15-1-overlap-512x512.py')
    with pytest.raises(FileNotFoundError, match='does not exist'):
        _build(_step_cfg(cfg_v, str(tmp_path / 'nowhere'), str(tmp_path),
                         0)[1])
    voc2 = str(tmp_path / 'voc2')
    shutil.copytree(voc_root, voc2)
    os.remove(osp.join(voc2, 'ImageSets', 'Segmentation', 'trainaug.txt'))
    with pytest.raises(FileNotFoundError,
                       match=r'trainaug.txt: annotation file not found.*'
                       'data/README.md'):
        _build(_step_cfg(cfg_v, voc2, str(tmp_path), 0)[1])
    ade2 = str(tmp_path / 'ade2')
    shutil.copytree(osp.join(ade_root, 'annotations'),
                    osp.join(ade2, 'annotations'))
    with pytest.raises(FileNotFoundError,
                       match=r'images/training: image folder not found '
                       r'\(dataset ADE20KCISSDataset expects '
                       r'data_root/images/training/\)'):
        _build(_step_cfg(
            'finetune/finetune_deeplabv3-r101_1xb24_'
            'ade-100-50-overlap-512x512.py', ade2,
            str(tmp_path), 0)[1])
    # Cityscapes labelIds saved under the labelTrainIds name: values 7, 26
    city2 = str(tmp_path / 'city2')
    shutil.copytree(city_root, city2, ignore=shutil.ignore_patterns(
        '.cisseg_cache'))
    _, name = _city_name('train', 1)
    bad = osp.join(city2, 'gtFine', 'train', 'bochum',
                   name + '_gtFine_labelTrainIds.png')
    _png(bad, _label([7, 26]))
    with pytest.raises(ValueError,
                       match=rf'{name}_gtFine_labelTrainIds.png: label '
                       r'values \[26\] are not classes'):
        _build(_step_cfg(
            'finetune/finetune_deeplabv3-r101_1xb24_'
            'cityscapes-13-6-overlap-512x512.py',
            city2, str(tmp_path), 0)[1])


# ----------------------------------------------------- tools/train.py runs
TINY = [
    'model.backbone.depth=18', 'model.backbone.stem_channels=8',
    'model.backbone.base_channels=8', 'model.backbone.init_cfg=None',
    'model.decode_head.in_channels=64', 'model.decode_head.channels=16',
    'train_cfg.max_epochs=1', 'train_dataloader.batch_size=5',
    'train_dataloader.num_workers=0', 'test_dataloader.num_workers=0',
    'train_dataloader.dataset.dataset.pipeline.2.size=(32,32)',
    'test_dataloader.dataset.dataset.pipeline.2.size=32',
    'test_dataloader.dataset.dataset.pipeline.2.crop_size=(32,32)',
    'default_hooks.logger.interval=1'
]


@pytest.mark.slow
@pytest.mark.parametrize('config,root', [
    ('star/star-basic_deeplabv3-r101_1xb24_'
     'voc-15-1-overlap-512x512.py', 'voc_root'),
    ('star/star-basic_deeplabv3-r101_1xb24_'
     'ade-100-50-overlap-512x512.py', 'ade_root'),
    ('mib/mib_deeplabv3-r101_1xb24_'
     'cityscapes-13-6-overlap-512x512.py', 'city_root'),
])
def test_train_tool_runs_a_real_config(config, root, request, tmp_path):
    data_root = request.getfixturevalue(root)
    work_dir = str(tmp_path / 'work')
    env = dict(os.environ, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        [sys.executable, osp.join(REPO, 'tools', 'train.py'),
         osp.join(REPO, 'configs', config), '--work-dir', work_dir,
         '--steps', '0', '--cfg-options', f'data_root={data_root}'] + TINY,
        cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(osp.join(work_dir, 'metrics.json')) as f:
        data = json.load(f)
    (entry, ) = data['steps']
    # one iteration: 7 / 8 / 7 selected images, batch 5, drop_last
    assert entry['train_images'] in (7, 8)
    assert entry['checkpoint'] == 'step_0/iter_1.pth'
    assert 0 <= entry['mIoU_all'] <= 100


def test_unseen_option_label_tables():
    from cisseg.datasets import build_protocol
    p = build_protocol('cityscapes', '13-6', unseen='ignore')
    train0, test0 = p.label_lut(0, 'train'), p.label_lut(0, 'test')
    # step 0: train ids 1..13 for dataset ids 0..12, future 13..18 ignored
    assert list(train0[:13]) == list(range(1, 14)) == list(test0[:13])
    assert set(train0[13:19]) == set(test0[13:19]) == {255}
    train1 = p.label_lut(1, 'train')
    assert set(train1[:13]) == {0} and list(train1[13:19]) == list(
        range(14, 20))
    assert p.to_dict()['unseen'] == 'ignore'
    assert build_protocol(**p.to_dict()) == p
    voc = build_protocol('voc', '15-1', unseen='ignore').label_lut(1, 'train')
    assert voc[0] == 0 and voc[5] == 0 and voc[16] == 16  # old -> bg
    assert list(voc[17:21]) == [255] * 4 and voc[21] == -1
    assert 'unseen' not in build_protocol('voc', '15-1').to_dict()
    with pytest.raises(ValueError, match="incremental.unseen: unknown value "
                       "'void'"):
        build_protocol('voc', '15-1', unseen='void')
