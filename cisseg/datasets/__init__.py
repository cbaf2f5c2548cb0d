from .ade20k_ciss import ADE20KCISSDataset
from .class_cache import image_classes, label_classes
from .incremental_dataset import IncrementalSegDataset
from .protocols import TASKS, Protocol, build_protocol
from .synthetic import ensure_synthetic_voc, generate_synthetic_voc
from .transforms import StepLabelRemap

__all__ = [
    'TASKS', 'Protocol', 'build_protocol', 'IncrementalSegDataset',
    'StepLabelRemap', 'image_classes', 'label_classes',
    'generate_synthetic_voc', 'ensure_synthetic_voc', 'ADE20KCISSDataset'
]
