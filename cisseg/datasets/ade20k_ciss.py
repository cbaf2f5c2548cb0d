"""ADE20K as class-incremental papers use it: 151 classes, 0 = background."""
from mmseg.datasets import ADE20KDataset
from mmseg.registry import DATASETS


@DATASETS.register_module()
class ADE20KCISSDataset(ADE20KDataset):
    """ADE20K (SceneParsing, ``ADEChallengeData2016``) with label 0 kept.

    mmseg's :class:`ADE20KDataset` drops label 0 ("other objects", the
    pixels of none of the 150 classes) with ``reduce_zero_label=True`` and
    names 150 classes. Class-incremental protocols (MiB, PLOP, DKD, STAR)
    keep 0 as the background class: train ids are the label values as they
    are on disk, 0..150, and 0 is learned in step 0 like VOC's background.
    This subclass names those 151 classes (``'background'`` first, then
    mmseg's 150 names in their order) and defaults to
    ``reduce_zero_label=False``. The files and folders are mmseg's.

    Args:
        img_suffix (str): suffix of images. Default: '.jpg'.
        seg_map_suffix (str): suffix of label maps. Default: '.png'.
        reduce_zero_label (bool): keep ``False`` for class-incremental
            protocols (``True`` gives mmseg's 150-class convention, which
            does not match this dataset's 151 class names).
        **kwargs: arguments of :class:`ADE20KDataset`.
    """
    METAINFO = dict(
        classes=('background', ) + tuple(ADE20KDataset.METAINFO['classes']),
        palette=[[0, 0, 0]] + [list(c) for c in
                               ADE20KDataset.METAINFO['palette']])

    def __init__(self,
                 img_suffix: str = '.jpg',
                 seg_map_suffix: str = '.png',
                 reduce_zero_label: bool = False,
                 **kwargs) -> None:
        if reduce_zero_label:
            raise ValueError(
                'ADE20KCISSDataset.reduce_zero_label must be False: its 151 '
                "classes keep label 0 as 'background' (use mmseg's "
                'ADE20KDataset for the 150-class convention)')
        super().__init__(
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            reduce_zero_label=reduce_zero_label,
            **kwargs)
