"""What cisseg does with an mmengine Runner once its step is over."""
import logging


def release_runner(runner) -> None:
    """Close what a finished step's Runner keeps open: its log file (the
    MMLogger instance outlives the Runner, one per step, and would hold a
    file per past step), its visualizer (backends closed, and dropped from
    mmengine's registry of instances with its figure and dataset meta) and
    its MessageHub (the step's scalar history).

    The step's MMLogger object itself stays registered, without its file:
    it stays the 'current' logger until the next step's Runner makes its
    own, and on ranks > 0 it is the one that keeps their console quiet.
    """
    from mmengine.logging import MessageHub
    from mmengine.visualization import Visualizer
    for handler in list(runner.logger.handlers):
        if isinstance(handler, logging.FileHandler):
            handler.close()
            runner.logger.removeHandler(handler)
    runner.visualizer.close()
    Visualizer._instance_dict.pop(runner.visualizer.instance_name, None)
    MessageHub._instance_dict.pop(runner.message_hub.instance_name, None)
