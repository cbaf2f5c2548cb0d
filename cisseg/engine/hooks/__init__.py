from .incremental_step_hook import IncrementalStepHook
from .prototype_derivation_hook import PrototypeDerivationHook
from .prototype_replay_hook import PrototypeReplayHook
from .safe_checkpoint_hook import SafeCheckpointHook
from .sync_norm_buffers_hook import SyncNormBuffersHook

__all__ = [
    'IncrementalStepHook', 'PrototypeDerivationHook', 'PrototypeReplayHook',
    'SafeCheckpointHook', 'SyncNormBuffersHook'
]
