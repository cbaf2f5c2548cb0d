from . import checkpoint  # noqa: F401  (registers the loading/saving fixes)
from .config import apply_method, load_config
from .hooks import IncrementalStepHook
from .step_scheduler import StepScheduler, latest_checkpoint, parse_steps

__all__ = [
    'apply_method', 'load_config', 'IncrementalStepHook', 'StepScheduler', 'latest_checkpoint',
           'parse_steps']
