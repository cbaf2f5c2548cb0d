from .incremental_step_hook import IncrementalStepHook
from .prototype_replay_hook import PrototypeReplayHook

__all__ = ['IncrementalStepHook', 'PrototypeReplayHook']
