from . import checkpoint  # noqa: F401  (registers the loading/saving fixes)
from .config import load_config
from .hooks import IncrementalStepHook
from .optimizers import GroupedOptimWrapperConstructor
from .step_scheduler import StepScheduler, latest_checkpoint, parse_steps

__all__ = [
    'load_config', 'IncrementalStepHook', 'GroupedOptimWrapperConstructor',
    'StepScheduler', 'latest_checkpoint', 'parse_steps'
]
