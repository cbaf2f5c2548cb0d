from .crops import RandomResizedCrop, ResizeCenterCrop
from .step_label_remap import StepLabelRemap
from .void_to_background import VoidToBackground

__all__ = [
    'StepLabelRemap', 'RandomResizedCrop', 'ResizeCenterCrop',
    'VoidToBackground'
]
