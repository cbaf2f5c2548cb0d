from .feature_statistics import FeatureStatistics, grid_labels
from .prototype_bank import PrototypeBank

__all__ = ['FeatureStatistics', 'PrototypeBank', 'grid_labels']
