"""Map dataset label values to the train ids of one incremental step."""
import numpy as np
from mmcv.transforms import BaseTransform

from mmseg.registry import TRANSFORMS


@TRANSFORMS.register_module()
class StepLabelRemap(BaseTransform):
    """Remap ``gt_seg_map`` with a 256-entry look-up table.

    Placed right after ``LoadAnnotations`` (``IncrementalSegDataset`` puts it
    there). The table comes from :meth:`Protocol.label_lut`: classes that are
    not labelled at this step become background (0), 255 stays 255, values
    the dataset does not have (-1 in the table) raise an error naming the
    label file, as does a label map of another size than its image.

    Required Keys: gt_seg_map, seg_map_path. Modified Keys: gt_seg_map.

    Args:
        lut (Sequence[int]): 256 train ids, -1 for invalid values.
    """

    def __init__(self, lut) -> None:
        lut = np.asarray(lut, dtype=np.int16)
        if lut.shape != (256, ):
            raise ValueError(f'StepLabelRemap.lut must have 256 entries, got '
                             f'shape {lut.shape}')
        self.lut = lut
        self._valid = lut >= 0
        self._table = np.where(self._valid, lut, 255).astype(np.uint8)

    def transform(self, results: dict) -> dict:
        seg = results['gt_seg_map']
        shape = results.get('ori_shape')  # the image's, as loaded
        if shape is not None and tuple(shape[:2]) != seg.shape[:2]:
            raise ValueError(
                f"{results.get('seg_map_path')}: label map of "
                f'{seg.shape[0]}x{seg.shape[1]} px for the image '
                f"{results.get('img_path')} of {shape[0]}x{shape[1]} px; an "
                'image and its label map must have the same size')
        if seg.dtype != np.uint8:
            if seg.min() < 0 or seg.max() > 255:
                raise ValueError(
                    f"{results.get('seg_map_path')}: label values must lie "
                    f'in 0..255, got {seg.min()}..{seg.max()}')
            seg = seg.astype(np.uint8)
        if not self._valid[seg].all():
            bad = sorted(set(np.unique(seg[~self._valid[seg]]).tolist()))
            raise ValueError(
                f"{results.get('seg_map_path')}: label values {bad} are not "
                f'classes of this dataset (expected '
                f'0..{int(np.flatnonzero(self._valid[:255]).max())} or 255)')
        results['gt_seg_map'] = self._table[seg]
        return results

    def __repr__(self) -> str:
        remapped = {i: int(v) for i, v in enumerate(self.lut)
                    if v >= 0 and v != i}
        return f'{self.__class__.__name__}(remapped={remapped})'
