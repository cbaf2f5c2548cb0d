from .class_argmax import class_argmax
from .entropy_pseudo_labels import (EntropyHistogram, entropy_pseudo_labels,
                                    median_thresholds, normalized_entropy)
from .feature_statistics import (FeatureStatistics, grid_labels,
                                 masked_bincount)
from .prototype_bank import PrototypeBank
from .prototype_derivation import (EXTRACTION_RULES, combine_prototypes,
                                   extraction_labels, lite_replay_plan,
                                   nearest_prototype_distance,
                                   recognition_prototypes)

__all__ = [
    'class_argmax', 'FeatureStatistics', 'PrototypeBank', 'grid_labels',
    'masked_bincount',
    'recognition_prototypes', 'combine_prototypes', 'extraction_labels',
    'lite_replay_plan', 'nearest_prototype_distance', 'EXTRACTION_RULES',
    'EntropyHistogram', 'entropy_pseudo_labels',
    'median_thresholds', 'normalized_entropy'
]
