"""Which images a step is evaluated on, how unseen classes are labelled,
the view of each image, and where metrics.json says so."""
import json
import os.path as osp

import numpy as np
import pytest

from cisseg.datasets import IncrementalSegDataset
from cisseg.evaluation import IncrementalIoUMetric
from tests.conftest import REPO, write_voc

# val image -> its classes besides background (VOC 15-1: 1..15 at step 0,
# 16 at step 1, ..., 20 at step 5)
VAL = {'v1': [1], 'v2': [17], 'v3': [], 'v4': [16, 20]}


def _label(classes):
    lab = np.zeros((8, 8), np.uint8)
    for i, c in enumerate(classes):
        lab[2 * i:2 * i + 2, :4] = c
    lab[7, 7] = 255
    return lab


@pytest.fixture
def voc_val(tmp_path):
    root = str(tmp_path / 'voc')
    write_voc(root, [(n, _label(c)) for n, c in VAL.items()], 'val')
    return root


def _test_set(root, step, view=(), **kwargs):
    return IncrementalSegDataset(
        dataset=dict(
            type='PascalVOCDataset', data_root=root,
            data_prefix=dict(img_path='JPEGImages',
                             seg_map_path='SegmentationClass'),
            ann_file='ImageSets/Segmentation/val.txt',
            pipeline=[dict(type='LoadImageFromFile'),
                      dict(type='LoadAnnotations'), *view,
                      dict(type='PackSegInputs')]),
        protocol=dict(dataset='voc', task='15-1', setting='overlap'),
        step=step, split='test', cache_dir=osp.join(root, 'cache'),
        **kwargs)


def _names(ds):
    return [osp.splitext(osp.basename(ds.get_data_info(i)['img_path']))[0]
            for i in range(len(ds))]


def _seg(ds, name):
    item = ds[_names(ds).index(name)]
    return item['data_samples'].gt_sem_seg.data.numpy()[0]


def test_all_images_by_default(voc_val):
    ds = _test_set(voc_val, 0)
    assert _names(ds) == ['v1', 'v2', 'v3', 'v4']
    assert ds.metainfo['eval_protocol'] == dict(
        images='all', unseen='background', view='whole')


@pytest.mark.parametrize('step,expected', [
    (0, ['v1']), (1, ['v1', 'v4']), (2, ['v1', 'v2', 'v4'])])
def test_seen_images_only(voc_val, step, expected):
    # the authors' rule: a val image is evaluated at step t when its full
    # label holds a foreground class seen up to t (background does not
    # count: v3 is never evaluated)
    ds = _test_set(voc_val, step, test_images='seen')
    assert _names(ds) == expected


def test_unseen_classes_ignored_at_test_time(voc_val):
    ds = _test_set(voc_val, 1, test_images='seen', test_unseen='ignore')
    seg = _seg(ds, 'v4')
    assert (seg[0:2, :4] == 16).all()  # seen
    assert (seg[2:4, :4] == 255).all()  # 20, unseen at step 1: ignored
    assert (seg[4:, :4] == 0).all()
    assert ds.metainfo['eval_protocol']['unseen'] == 'ignore'
    default = _seg(_test_set(voc_val, 1), 'v4')
    assert (default[2:4, :4] == 0).all()  # unseen -> background


def test_bad_protocol_options(voc_val):
    with pytest.raises(ValueError, match='test_images'):
        _test_set(voc_val, 0, test_images='some')
    with pytest.raises(ValueError, match='test_unseen'):
        _test_set(voc_val, 0, test_unseen='drop')


def test_center_crop_view_is_evaluated_in_its_own_frame(voc_val):
    ds = _test_set(voc_val, 0, view=[dict(type='ResizeCenterCrop', size=8,
                                          crop_size=(6, 4))])
    sample = ds[0]['data_samples']
    assert sample.gt_sem_seg.data.shape[1:] == (6, 4)
    # mmseg resizes the prediction to ori_shape: the crop, as the label
    assert tuple(sample.ori_shape) == (6, 4)
    assert ds.metainfo['eval_protocol']['view'] == \
        'resize-short-8_center-crop-6x4'


def test_metric_reports_the_protocol(voc_val):
    ds = _test_set(voc_val, 1, test_images='seen', test_unseen='ignore')
    metric = IncrementalIoUMetric()
    assert metric.metrics_fields == {}
    metric.dataset_meta = ds.metainfo
    assert metric.metrics_fields == dict(eval_protocol=dict(
        images='seen', unseen='ignore', view='whole', absent_iou='ignore'))


@pytest.mark.parametrize('name,images,unseen', [
    ('voc_aug', 'seen', 'background'), ('ade20k', 'seen', 'ignore'),
    ('cityscapes', 'seen', 'background')])
def test_paper_datasets_evaluate_as_the_authors(name, images, unseen):
    from mmengine.config import Config
    cfg = Config.fromfile(
        osp.join(REPO, 'configs', '_base_', 'datasets', f'{name}.py'))
    test = cfg.test_dataloader.dataset
    assert test.test_images == images
    assert test.get('test_unseen') in (None, unseen) and \
        (unseen == 'background') == (test.get('test_unseen') is None)
    views = [t for t in test.dataset.pipeline
             if t['type'] == 'ResizeCenterCrop']
    # resized with PIL, as the authors' torchvision transforms
    assert views == [dict(type='ResizeCenterCrop', size=512,
                          crop_size=(512, 512), backend='pillow')]
    crops = [t for t in cfg.train_pipeline if t['type'] ==
             'RandomResizedCrop']
    assert crops[0]['size'] == (512, 512) and crops[0]['scale'] == (0.5, 2.0)
    assert crops[0]['backend'] == 'pillow'
    assert not any(t['type'] in ('PhotoMetricDistortion', 'RandomCrop')
                   for t in cfg.train_pipeline)
    assert cfg.train_dataloader.batch_size == 24
    assert cfg.train_dataloader.drop_last is True
    void = [t['type'] == 'VoidToBackground' for t in cfg.train_pipeline]
    assert any(void) == (name == 'cityscapes')


def test_metrics_json_records_the_protocol(tiny_voc, tmp_path):
    from cisseg.engine import StepScheduler, load_config
    cfg = load_config(
        osp.join(REPO, 'configs', 'demo', 'finetune_shapes-15-1-overlap.py'),
        {'data_root': tiny_voc, 'train_cfg.max_iters': 2,
         'train_dataloader.batch_size': 4, 'work_dir': str(tmp_path)})
    StepScheduler(cfg, steps='0').run()
    with open(osp.join(str(tmp_path), 'metrics.json')) as f:
        entry = json.load(f)['steps'][0]
    # the demo keeps the whole-image protocol on every val image
    assert entry['eval_protocol'] == dict(images='all', unseen='background',
                                          view='whole', absent_iou='ignore')
