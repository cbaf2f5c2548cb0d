"""Check a dataset's image/label pairs before training, naming the file.

Run by the step scheduler before step 0 so that a bad label value or an
image whose label map has another size stops the run at once, not when a
DataLoader meets the file (for val: after a step has trained). Label
values come from the per-split class cache (read once); sizes come from the
file headers, which PIL reads without decoding the pixels.
"""
import os.path as osp

from mmseg.registry import DATASETS
from .class_cache import default_cache_dir, image_classes


def _size(path: str, what: str):
    from PIL import Image
    try:
        with Image.open(path) as img:
            return img.size[1], img.size[0]
    except (OSError, ValueError) as e:
        raise FileNotFoundError(f'{path}: cannot read {what} ({e})') from e


def check_dataset(cfg: dict, num_classes: int) -> int:
    """Build the mmseg dataset ``cfg`` and check every sample.

    - every label map holds classes ``0..num_classes-1`` or 255 (after
      ``reduce_zero_label``), read through :func:`image_classes` (cached
      per split, as the step filter reads them);
    - every image has the size of its label map.

    Args:
        cfg (dict): an mmseg dataset config (the one that
            ``IncrementalSegDataset`` wraps).
        num_classes (int): classes of the dataset (background included).

    Returns:
        int: the number of samples checked.

    Raises:
        ValueError / FileNotFoundError naming the file at fault.
    """
    cfg = dict(cfg, lazy_init=True)
    from .incremental_dataset import IncrementalSegDataset
    IncrementalSegDataset._check_data_root(cfg)
    ds = DATASETS.build(cfg)
    ds.full_init()
    infos = [ds.get_data_info(i) for i in range(len(ds))]
    seg_paths = [info['seg_map_path'] for info in infos]
    image_classes(
        seg_paths, num_classes, default_cache_dir(ds.data_root or '.'),
        tag=osp.splitext(osp.basename(ds.ann_file or 'all'))[0],
        reduce_zero_label=getattr(ds, 'reduce_zero_label', False))
    for info in infos:
        img = _size(info['img_path'], 'image')
        seg = _size(info['seg_map_path'], 'label map')
        if img != seg:
            raise ValueError(
                f"{info['seg_map_path']}: label map of {seg[0]}x{seg[1]} px "
                f"for the image {info['img_path']} of {img[0]}x{img[1]} px; "
                'an image and its label map must have the same size')
    return len(infos)
