"""Per-step bookkeeping inside a step's Runner."""
import json

from mmengine.hooks import Hook

from mmseg.registry import HOOKS
from .utils import unwrap_model


@HOOKS.register_module()
class IncrementalStepHook(Hook):
    """Initialise the new classifier at the start of a step and stamp every
    checkpoint with the step and protocol it belongs to.

    The stamp (``meta['cisseg']``) lets later steps and ``tools/test.py``
    refuse a checkpoint of another step, class count or protocol.

    Args:
        step (int): the step of this Runner.
        protocol (dict): ``Protocol.to_dict()``.
    """
    priority = 'NORMAL'

    def __init__(self, step: int, protocol: dict) -> None:
        self.step = step
        # plain types: the dict is saved in files loaded with weights_only
        self.protocol = json.loads(json.dumps(protocol))

    def before_train(self, runner) -> None:
        # A resumed step already has its trained classifier.
        if runner.iter == 0 and self.step > 0:
            unwrap_model(runner).init_new_classifier()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        head = unwrap_model(runner).decode_head
        checkpoint.setdefault('meta', {})['cisseg'] = dict(
            step=self.step, protocol=self.protocol,
            classes_per_step=list(head.classes_per_step),
            formulation=head.formulation)
