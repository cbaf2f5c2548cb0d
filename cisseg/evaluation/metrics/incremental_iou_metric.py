"""IoU metric with the class-incremental summaries (base / inc / all)."""
from collections import OrderedDict
from typing import Dict, Optional

import numpy as np
from mmengine.logging import MMLogger, print_log
from prettytable import PrettyTable

from mmseg.evaluation.metrics import IoUMetric
from mmseg.registry import METRICS
from cisseg.utils import check_choice


ABSENT_IOU = ('ignore', 'zero')


def incremental_summary(iou: np.ndarray, num_base: int,
                        absent_iou: str = 'ignore') -> Dict[str, float]:
    """mIoU over base classes (step 0, background included), incremental
    classes (added later, seen so far), all seen classes, and their
    harmonic mean. ``iou`` in percent, NaN for classes absent from both
    prediction and ground truth: left out of the means (``'ignore'``) or
    counted as 0 (``'zero'``, the STAR code's means). Keys without classes
    (e.g. ``mIoU_inc`` at step 0) or whose classes are all absent and
    ignored are left out."""
    if absent_iou == 'zero':
        iou = np.nan_to_num(iou, nan=0.0)
    out = OrderedDict()
    parts = dict(mIoU_base=iou[:num_base], mIoU_inc=iou[num_base:],
                 mIoU_all=iou)
    for key, vals in parts.items():
        if vals.size and not np.isnan(vals).all():
            out[key] = float(np.nanmean(vals))
    if 'mIoU_base' in out and 'mIoU_inc' in out:
        b, i = out['mIoU_base'], out['mIoU_inc']
        out['hIoU'] = 0.0 if b + i == 0 else 2 * b * i / (b + i)
    return out


@METRICS.register_module()
class IncrementalIoUMetric(IoUMetric):
    """mmseg's :class:`IoUMetric` plus ``mIoU_base``, ``mIoU_inc``,
    ``mIoU_all`` and ``hIoU`` and per-class ``IoU.<class>``, all in percent.

    The number of base classes comes from ``dataset_meta['num_base_classes']``
    (set by :class:`IncrementalSegDataset`) unless given here. A class absent
    from the predictions and labels of every evaluated image is left out of
    the means (``absent_iou='ignore'``) or counts as IoU 0 (``'zero'``, as
    the STAR authors' metric; their paper configs). :attr:`metrics_fields`
    names the evaluation protocol (which
    images, how unseen classes are labelled, the view of each image), as
    the test dataset describes it, for ``metrics.json``.

    Args:
        num_base_classes (int, optional): train ids of step 0.
        absent_iou (str): 'ignore' or 'zero'.
        **kwargs: arguments of :class:`IoUMetric`.
    """

    def __init__(self, num_base_classes: Optional[int] = None,
                 absent_iou: str = 'ignore', **kwargs) -> None:
        check_choice('test_evaluator.absent_iou', absent_iou, ABSENT_IOU)
        kwargs.setdefault('iou_metrics', ['mIoU'])
        super().__init__(**kwargs)
        self.num_base_classes = num_base_classes
        self.absent_iou = absent_iou

    @property
    def metrics_fields(self) -> dict:
        """Fields for the step's ``metrics.json`` entry."""
        proto = (self.dataset_meta or {}).get('eval_protocol')
        return dict(eval_protocol=dict(proto, absent_iou=self.absent_iou)) \
            if proto else {}

    def compute_metrics(self, results: list) -> Dict[str, float]:
        logger: MMLogger = MMLogger.get_current_instance()
        results = tuple(zip(*results))
        intersect = sum(results[0]).double()
        union = sum(results[1]).double()
        label = sum(results[3]).double()
        with np.errstate(invalid='ignore', divide='ignore'):
            iou = (intersect / union).cpu().numpy() * 100
        iou[union.cpu().numpy() == 0] = np.nan
        classes = self.dataset_meta['classes']
        num_base = self.num_base_classes or self.dataset_meta.get(
            'num_base_classes', len(classes))
        metrics = incremental_summary(iou, num_base, self.absent_iou)
        metrics['aAcc'] = float(intersect.sum() / label.sum() * 100)
        for name, v in zip(classes, iou):
            if not np.isnan(v):
                metrics[f'IoU.{name}'] = float(v)

        table = PrettyTable()
        table.field_names = ['Class', 'IoU', 'group']
        for i, (name, v) in enumerate(zip(classes, iou)):
            table.add_row([name, 'n/a' if np.isnan(v) else f'{v:.2f}',
                           'base' if i < num_base else 'inc'])
        print_log('per-class results:\n' + table.get_string(), logger=logger)
        summary = {k: round(v, 2) for k, v in metrics.items()
                   if not k.startswith('IoU.')}
        print_log(f'summary: {summary}', logger=logger)
        return metrics
