from .incremental_aspp_head import IncrementalASPPHead

__all__ = ['IncrementalASPPHead']
