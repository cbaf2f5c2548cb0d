from .incremental_iou_metric import IncrementalIoUMetric, incremental_summary

__all__ = ['IncrementalIoUMetric', 'incremental_summary']
