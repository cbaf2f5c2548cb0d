from .exemplar_memory_hook import ExemplarMemoryHook
from .incremental_step_hook import IncrementalStepHook
from .prototype_derivation_hook import PrototypeDerivationHook
from .prototype_replay_hook import PrototypeReplayHook
from .pseudo_label_threshold_hook import PseudoLabelThresholdHook
from .safe_checkpoint_hook import SafeCheckpointHook
from .sync_norm_buffers_hook import SyncNormBuffersHook

__all__ = [
    'ExemplarMemoryHook',
    'IncrementalStepHook', 'PrototypeDerivationHook', 'PrototypeReplayHook',
    'SafeCheckpointHook', 'SyncNormBuffersHook', 'PseudoLabelThresholdHook'
]
