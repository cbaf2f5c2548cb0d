from .incremental_step_hook import IncrementalStepHook
from .prototype_derivation_hook import PrototypeDerivationHook
from .prototype_replay_hook import PrototypeReplayHook

__all__ = [
    'IncrementalStepHook', 'PrototypeDerivationHook', 'PrototypeReplayHook'
]
