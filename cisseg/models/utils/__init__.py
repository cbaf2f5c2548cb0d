from .entropy_pseudo_labels import (EntropyHistogram, entropy_pseudo_labels,
                                    median_thresholds, normalized_entropy)
from .feature_statistics import FeatureStatistics, grid_labels
from .prototype_bank import PrototypeBank
from .prototype_derivation import (combine_prototypes, extraction_labels,
                                   lite_replay_plan, recognition_prototypes)

__all__ = [
    'FeatureStatistics', 'PrototypeBank', 'grid_labels',
    'recognition_prototypes', 'combine_prototypes', 'extraction_labels',
    'lite_replay_plan', 'EntropyHistogram', 'entropy_pseudo_labels',
    'median_thresholds', 'normalized_entropy'
]
