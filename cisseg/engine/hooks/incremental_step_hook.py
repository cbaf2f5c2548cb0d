"""Per-step bookkeeping inside a step's Runner."""
import json
from typing import Optional

from mmengine.hooks import Hook

from mmseg.registry import HOOKS
from .utils import unwrap_model


@HOOKS.register_module()
class IncrementalStepHook(Hook):
    """Initialise the new classifier at the start of a step and stamp every
    checkpoint with the step and protocol it belongs to.

    The stamp (``meta['cisseg']``) lets later steps and ``tools/test.py``
    refuse a checkpoint of another step, class count, protocol or run.

    Args:
        step (int): the step of this Runner.
        protocol (dict): ``Protocol.to_dict()``.
        stamp (dict, optional): more fields of the stamp, from the step
            scheduler: the run identity (``run``), the id of this step's
            training (``id``), the id of the step t-1 training it starts
            from (``parent``) and the config fingerprint (``config``).
    """
    priority = 'NORMAL'

    def __init__(self, step: int, protocol: dict,
                 stamp: Optional[dict] = None) -> None:
        self.step = step
        # plain types: the dicts are saved in files loaded with weights_only
        self.protocol = json.loads(json.dumps(protocol))
        self.stamp = json.loads(json.dumps(stamp or {}))

    def before_train(self, runner) -> None:
        # A resumed step already has its trained classifier.
        if runner.iter == 0 and self.step > 0:
            unwrap_model(runner).init_new_classifier()

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        head = unwrap_model(runner).decode_head
        checkpoint.setdefault('meta', {})['cisseg'] = dict(
            step=self.step, protocol=self.protocol,
            classes_per_step=list(head.classes_per_step),
            formulation=head.formulation, **self.stamp)
