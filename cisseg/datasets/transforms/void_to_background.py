"""Ignored pixels as background (the STAR-TPAMI Cityscapes labels)."""
from mmcv.transforms import BaseTransform

from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class VoidToBackground(BaseTransform):
    """Label ignored pixels (255) as background (0).

    The STAR-TPAMI Cityscapes code maps every Cityscapes id without a train
    id (the pixels that ``*_labelTrainIds.png`` marks 255) to its
    background class, which it trains and evaluates like any class. Put it
    after ``LoadAnnotations`` (``IncrementalSegDataset`` remaps the labels
    right after that, so this sees train ids) and before any transform that
    pads labels with 255 (the crops of the paper configs do not pad). Classes
    that a step's labels set to 255 (``incremental.unseen='ignore'``) become
    background too.

    Required Keys: gt_seg_map. Modified Keys: gt_seg_map.
    """

    def transform(self, results: dict) -> dict:
        for key in results.get('seg_fields', []):
            seg = results[key].copy()
            seg[seg == 255] = 0
            results[key] = seg
        return results
