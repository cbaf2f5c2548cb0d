from .step_label_remap import StepLabelRemap

__all__ = ['StepLabelRemap']
