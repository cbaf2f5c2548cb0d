from .step_plots import comparison_table, load_run, plot_runs, steps_table

__all__ = ['comparison_table', 'load_run', 'plot_runs', 'steps_table']
