from .grouped_constructor import GroupedOptimWrapperConstructor

__all__ = ['GroupedOptimWrapperConstructor']
