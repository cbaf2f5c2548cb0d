"""A dataset wrapper that shows a segmentation dataset as one step sees it."""
import copy
import dataclasses
import os.path as osp
from typing import Optional, Union

from mmcv.transforms import TestTimeAug
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from mmseg.datasets.transforms import LoadAnnotations
from mmseg.registry import DATASETS
from .class_cache import default_cache_dir, image_classes
from .memory import MEMORY_LABELS, data_relpath, load_memory
from .protocols import IGNORE_INDEX, UNSEEN, Protocol, build_protocol
from .transforms import StepLabelRemap


def _insert_after_load(transforms: list, remap: StepLabelRemap) -> bool:
    """Put ``remap`` right after LoadAnnotations in ``transforms`` (in each
    branch of a TestTimeAug too), in place of an earlier remap. Returns
    whether there was a LoadAnnotations."""
    transforms[:] = [t for t in transforms
                     if not isinstance(t, StepLabelRemap)]
    for i, t in enumerate(transforms):
        if isinstance(t, LoadAnnotations):
            transforms.insert(i + 1, remap)
            return True
    found = False
    for t in transforms:
        if isinstance(t, TestTimeAug):
            for branch in t.subroutines:
                found = _insert_after_load(branch.transforms, remap) or found
    return found


TEST_IMAGES = ('all', 'seen')


@DATASETS.register_module()
class IncrementalSegDataset:
    """Wrap an mmseg dataset for step ``step`` of an incremental protocol.

    ``split='train'``: keeps only the images the step trains on (overlapped
    or disjoint, from the cached per-image class lists) and labels the
    step's new classes only (old and future classes -> background).
    ``split='test'``: keeps every image; seen classes keep their train ids,
    unseen classes -> background (the MiB/PLOP convention).
    In both, 255 stays ignored and ``metainfo['classes']`` lists the seen
    classes in train-id order, so mmseg's metrics and visualizer follow.

    With ``memory_file`` (a training split at t > 0) the images listed in
    that exemplar memory (kept after step t-1) follow the step's images,
    like the authors' concatenated memory set: an image in both appears
    twice. Their labels: ``memory_labels='step'`` as the step's images
    (the STAR/DKD authors), ``'seen'`` every seen class kept (SSUL).

    Args:
        dataset (dict | BaseDataset): the wrapped mmseg dataset.
        protocol (dict | Protocol): keyword arguments of
            :func:`build_protocol` (``dataset``, ``task``, ``setting`` ...).
        step (int): the step.
        split (str): 'train' or 'test'.
        cache_dir (str, optional): where the class lists are cached.
        lazy_init (bool): defer loading the annotation list.
        test_images (str): the test images of a step: 'all', or 'seen':
            those with at least one foreground class seen so far (the
            STAR/MiB code's rule, on the full label maps).
        test_unseen (str, optional): at test time, what unseen classes
            become ('background' or 'ignore'; the STAR code's ADE20K:
            'ignore'); None: the protocol's ``unseen``.
        memory_file (str, optional): a ``memory.json`` to add (train split).
        memory_labels (str): 'step' or 'seen', see above.
        pipeline (list[dict], optional): the wrapped dataset's pipeline,
            in place of its own (mmseg's ``MMSegInferencer`` and
            ``tools/test.py --tta`` read and set
            ``test_dataloader.dataset.pipeline``). The step's label
            remapping follows LoadAnnotations, inside a TestTimeAug too.
    """

    def __init__(self,
                 dataset: Union[dict, BaseDataset],
                 protocol: Union[dict, Protocol],
                 step: int,
                 split: str = 'train',
                 cache_dir: Optional[str] = None,
                 lazy_init: bool = False,
                 test_images: str = 'all',
                 test_unseen: Optional[str] = None,
                 memory_file: Optional[str] = None,
                 memory_labels: str = 'step',
                 pipeline: Optional[list] = None) -> None:
        if isinstance(dataset, dict):
            dataset = copy.deepcopy(dataset)
            if pipeline is not None:
                dataset['pipeline'] = copy.deepcopy(pipeline)
            dataset['lazy_init'] = True
            self._check_data_root(dataset)
            dataset = DATASETS.build(dataset)
        elif pipeline is not None:
            raise ValueError('IncrementalSegDataset.pipeline: give the '
                             'wrapped dataset as a config dict')
        self.dataset = dataset
        if isinstance(protocol, dict):
            protocol = dict(protocol)
            protocol.setdefault(
                'class_names', tuple(dataset.metainfo.get('classes', ())))
            protocol = build_protocol(**protocol)
        if test_images not in TEST_IMAGES or \
                test_unseen not in (None, ) + UNSEEN:
            raise ValueError(
                f'IncrementalSegDataset: test_images must be one of '
                f'{TEST_IMAGES} and test_unseen None or one of {UNSEEN}, '
                f'got {test_images!r}, {test_unseen!r}')
        if split == 'test' and test_unseen is not None:
            protocol = dataclasses.replace(protocol, unseen=test_unseen)
        self.protocol = protocol
        self.test_images = test_images
        self.step = step
        if split not in ('train', 'test'):
            raise ValueError(f"IncrementalSegDataset.split must be 'train' "
                             f"or 'test', got {split!r}")
        self.split = split
        self.cache_dir = cache_dir
        if memory_labels not in MEMORY_LABELS:
            raise ValueError(f'IncrementalSegDataset.memory_labels must be '
                             f'one of {MEMORY_LABELS}, got {memory_labels!r}')
        if memory_file is not None and (split != 'train' or step == 0):
            raise ValueError('IncrementalSegDataset.memory_file: a memory '
                             'is added to the training split of a step > 0')
        self.memory_file = memory_file
        self.memory_labels = memory_labels
        self.memory_dataset: Optional[BaseDataset] = None
        # dataset class ids of each of the step's own images (train split)
        self.image_classes: list = []
        self._insert_remap()
        self._metainfo = self._step_metainfo()
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @staticmethod
    def _check_data_root(cfg: dict) -> None:
        """Fail early, naming the missing path and the expected layout."""
        root = cfg.get('data_root')
        if root and not osp.isdir(root):
            raise FileNotFoundError(
                f'data_root {root!r} does not exist (dataset '
                f"{cfg.get('type')}); see data/README.md for the layout")
        prefix = cfg.get('data_prefix') or {}
        for key, what in (('img_path', 'image folder'),
                          ('seg_map_path', 'label folder')):
            sub = prefix.get(key)
            if root and sub and not osp.isdir(osp.join(root, sub)):
                raise FileNotFoundError(
                    f'{osp.join(root, sub)}: {what} not found (dataset '
                    f"{cfg.get('type')} expects data_root/{sub}/); see "
                    'data/README.md for the layout')
        ann = cfg.get('ann_file')
        if root and ann and not osp.isfile(osp.join(root, ann)):
            raise FileNotFoundError(
                f'{osp.join(root, ann)}: annotation file not found (dataset '
                f"{cfg.get('type')} expects it under data_root); see "
                'data/README.md for the layout')

    def _insert_remap(self, dataset=None, split=None) -> None:
        dataset = dataset or self.dataset
        lut = self.protocol.label_lut(self.step, split or self.split)
        if not _insert_after_load(dataset.pipeline.transforms,
                                  StepLabelRemap(lut)):
            raise ValueError(
                f'{type(dataset).__name__}.pipeline has no '
                'LoadAnnotations: IncrementalSegDataset needs the labels')

    def _step_metainfo(self) -> dict:
        meta = copy.deepcopy(self.dataset.metainfo)
        seen = self.protocol.seen_classes(self.step)
        meta['classes'] = tuple(self.protocol.seen_class_names(self.step))
        palette = meta.get('palette')
        if palette:
            rows = [palette[c] for c in seen]
            if not self.protocol.has_background:
                rows = [[0, 0, 0]] + rows
            meta['palette'] = rows
        meta.update(step=self.step, num_base_classes=self.protocol.num_base(),
                    protocol=self.protocol.to_dict())
        if self.split == 'test':  # recorded in metrics.json
            views = [t.eval_view for t in self.dataset.pipeline.transforms
                     if hasattr(t, 'eval_view')]
            meta['eval_protocol'] = dict(
                images=self.test_images, unseen=self.protocol.unseen,
                view=views[0] if views else 'whole')
        return meta

    @property
    def metainfo(self) -> dict:
        return copy.deepcopy(self._metainfo)

    # What mmseg's analysis tools (confusion_matrix.py) read from a dataset:
    # the step's classes, and labels that come out as train ids (255 void,
    # nothing left to reduce).
    @property
    def METAINFO(self) -> dict:  # noqa: N802  (mmseg's name)
        return self.metainfo

    ignore_index = IGNORE_INDEX
    reduce_zero_label = False

    def full_init(self) -> None:
        if self._fully_initialized:
            return
        self.dataset.full_init()
        if self.split == 'train':
            self._select_images()
        elif self.test_images == 'seen':
            self._select_test_images()
        self._fully_initialized = True

    def _select_images(self) -> None:
        ds = self.dataset
        infos = [ds.get_data_info(i) for i in range(len(ds))]
        paths = [info['seg_map_path'] for info in infos]
        cache_dir = self.cache_dir or default_cache_dir(ds.data_root or '.')
        classes = image_classes(
            paths, self.protocol.num_dataset_classes, cache_dir,
            tag=osp.splitext(osp.basename(ds.ann_file or 'all'))[0],
            reduce_zero_label=getattr(ds, 'reduce_zero_label', False))
        keep = [i for i, c in enumerate(classes)
                if self.protocol.is_selected(c, self.step)]
        if not keep:
            raise ValueError(
                f'step {self.step} of {self.protocol.dataset} '
                f'{self.protocol.task} {self.protocol.setting}: no training '
                f'image of {ds.ann_file or ds.data_root} contains the new '
                f'classes {self.protocol.new_classes(self.step)}')
        if self.memory_file is not None:
            self._add_memory(infos)
        ds.get_subset_(keep)
        self.image_classes = [classes[i] for i in keep]
        print_log(
            f'step {self.step}: {len(keep)} of {len(classes)} training '
            f'images ({self.protocol.setting})' +
            (f' + {len(self.memory_dataset)} from the memory'
             if self.memory_dataset is not None else ''), logger='current')

    def _add_memory(self, infos: list) -> None:
        """The memory's images as a subset of the wrapped dataset, with
        their own label remapping."""
        ds = self.dataset
        memory = load_memory(self.memory_file, self.step - 1,
                             self.protocol.to_dict()['steps'])
        index = {data_relpath(info['seg_map_path'], ds.data_root): i
                 for i, info in enumerate(infos)}
        missing = [m['seg_map_path'] for m in memory['images']
                   if m['seg_map_path'] not in index]
        if missing:
            raise ValueError(
                f'{self.memory_file}: {missing[0]} is not a training image '
                f'of {ds.ann_file or ds.data_root} ({len(missing)} memory '
                'images missing); the memory belongs to another dataset')
        if not memory['images']:
            return
        # Not ds.get_subset(): it copies through mmengine's
        # _copy_without_annotation(memo=dict()), whose memo is one dict shared
        # by every call, so an object whose id was reused after an earlier
        # copy came back in place of a transform (flaky pipelines).
        self.memory_dataset = copy.deepcopy(ds)
        self.memory_dataset.get_subset_(
            [index[m['seg_map_path']] for m in memory['images']])
        self._insert_remap(self.memory_dataset,
                           'test' if self.memory_labels == 'seen' else None)

    def _locate(self, idx: int):
        """(dataset, index in it): the step's images, then the memory's."""
        if not self._fully_initialized:
            self.full_init()
        if self.memory_dataset is None:
            return self.dataset, idx
        if idx < 0:
            idx += len(self)
        n = len(self.dataset)
        return (self.dataset, idx) if idx < n else \
            (self.memory_dataset, idx - n)

    def _select_test_images(self) -> None:
        """Keep the test images with a foreground class seen so far."""
        ds = self.dataset
        classes = image_classes(
            [ds.get_data_info(i)['seg_map_path'] for i in range(len(ds))],
            self.protocol.num_dataset_classes,
            self.cache_dir or default_cache_dir(ds.data_root or '.'),
            tag=osp.splitext(osp.basename(ds.ann_file or 'all'))[0],
            reduce_zero_label=getattr(ds, 'reduce_zero_label', False))
        seen = set(self.protocol.seen_classes(self.step)) - (
            {0} if self.protocol.has_background else set())
        keep = [i for i, c in enumerate(classes) if seen & set(c)]
        ds.get_subset_(keep)
        print_log(f'step {self.step}: {len(keep)} of {len(classes)} test '
                  'images have a seen class', logger='current')

    def get_data_info(self, idx: int) -> dict:
        ds, i = self._locate(idx)
        return ds.get_data_info(i)

    def __getitem__(self, idx: int) -> dict:
        ds, i = self._locate(idx)
        return ds[i]

    def __len__(self) -> int:
        if not self._fully_initialized:
            self.full_init()
        extra = len(self.memory_dataset) if self.memory_dataset else 0
        return len(self.dataset) + extra
