from .metrics import IncrementalIoUMetric, incremental_summary

__all__ = ['IncrementalIoUMetric', 'incremental_summary']
