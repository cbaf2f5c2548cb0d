import numpy as np
import pytest
import torch
from mmengine.structures import PixelData

from cisseg.evaluation import IncrementalIoUMetric, incremental_summary
from mmseg.structures import SegDataSample


def test_summary_by_hand():
    iou = np.array([90.0, 80.0, np.nan, 40.0, 20.0])
    s = incremental_summary(iou, num_base=3)
    assert s['mIoU_base'] == pytest.approx(85.0)
    assert s['mIoU_inc'] == pytest.approx(30.0)
    assert s['mIoU_all'] == pytest.approx(57.5)
    assert s['hIoU'] == pytest.approx(2 * 85 * 30 / 115)


def test_summary_with_absent_classes_as_zero():
    # the STAR authors' means: the absent class counts as 0
    iou = np.array([90.0, 80.0, np.nan, 40.0, 20.0])
    s = incremental_summary(iou, num_base=3, absent_iou='zero')
    assert s['mIoU_base'] == pytest.approx(170 / 3)
    assert s['mIoU_inc'] == pytest.approx(30.0)
    assert s['mIoU_all'] == pytest.approx(46.0)
    assert s['hIoU'] == pytest.approx(2 * (170 / 3) * 30 / (170 / 3 + 30))
    s = incremental_summary(np.array([50.0, np.nan]), num_base=2,
                            absent_iou='zero')
    assert set(s) == {'mIoU_base', 'mIoU_all'} and s['mIoU_all'] == 25.0
    with pytest.raises(ValueError, match='absent_iou must be one of'):
        IncrementalIoUMetric(absent_iou='nan')


def test_step0_has_no_incremental_keys():
    s = incremental_summary(np.array([50.0, 70.0]), num_base=2)
    assert set(s) == {'mIoU_base', 'mIoU_all'}


def test_metric_on_a_4x4_example():
    metric = IncrementalIoUMetric()
    metric.dataset_meta = dict(classes=('background', 'a', 'b'),
                               num_base_classes=2)
    gt = torch.tensor([[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 0, 0],
                       [2, 2, 255, 255]])
    pred = torch.tensor([[0, 0, 1, 1], [0, 2, 1, 1], [2, 2, 0, 0],
                         [2, 0, 0, 0]])
    s = SegDataSample()
    s.gt_sem_seg = PixelData(data=gt[None])
    s.pred_sem_seg = PixelData(data=pred[None])
    metric.process([], [s.to_dict()])
    out = metric.compute_metrics(metric.results)
    # background: inter 5, union 7 ; a: 4/4 ; b: inter 3, union 5
    assert out['IoU.background'] == pytest.approx(500 / 7)
    assert out['IoU.a'] == pytest.approx(100.0)
    assert out['IoU.b'] == pytest.approx(60.0)
    assert out['mIoU_base'] == pytest.approx((500 / 7 + 100) / 2)
    assert out['mIoU_inc'] == pytest.approx(60.0)
    assert out['mIoU_all'] == pytest.approx((500 / 7 + 160) / 3)
    assert out['aAcc'] == pytest.approx(12 / 14 * 100)
