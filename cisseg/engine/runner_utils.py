"""What cisseg does with an mmengine Runner once its step is over."""
import logging


def release_runner(runner) -> None:
    """Close what a finished step's Runner keeps open: its log file (the
    MMLogger instance outlives the Runner, one per step, and would hold a
    file per past step), its visualizer's backends and its MessageHub
    (the step's scalar history)."""
    from mmengine.logging import MessageHub
    for handler in list(runner.logger.handlers):
        if isinstance(handler, logging.FileHandler):
            handler.close()
            runner.logger.removeHandler(handler)
    runner.visualizer.close()
    MessageHub._instance_dict.pop(runner.message_hub.instance_name, None)
