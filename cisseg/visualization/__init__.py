from .false_positives import (FP_COLORS, FP_KIND_LABELS, FP_KINDS,
                              accumulate_false_positives, colorize_labels,
                              count_false_positives, false_positive_map,
                              false_positive_shares, plot_shares,
                              render_false_positive_map, render_panel,
                              shares_table)
from .step_plots import (comparison_table, load_run, plot_runs, seeds_table,
                         steps_table)

__all__ = [
    'comparison_table', 'load_run', 'plot_runs', 'seeds_table', 'steps_table',
    'FP_COLORS', 'FP_KIND_LABELS', 'FP_KINDS', 'accumulate_false_positives',
    'colorize_labels', 'count_false_positives', 'false_positive_map',
    'false_positive_shares', 'plot_shares', 'render_false_positive_map',
    'render_panel', 'shares_table'
]
