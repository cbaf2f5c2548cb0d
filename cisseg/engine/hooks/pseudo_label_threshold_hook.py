"""PLOP: per-class entropy thresholds of the old model's pseudo-labels."""
import torch
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmseg.registry import HOOKS
from cisseg.models.utils import EntropyHistogram
from .utils import iterate_epoch, unwrap_model


@HOOKS.register_module()
class PseudoLabelThresholdHook(Hook):
    """Before training at step t > 0, one pass of the frozen old model over
    the step's training data: for each old class, the median normalised
    entropy of the background-labelled pixels it predicts as that class
    (:class:`EntropyHistogram`, ``num_bins`` bins of [0, 1]), at least
    ``min_threshold``. The segmentor (:class:`PLOPSegmentor`) gets them
    through ``set_pseudo_thresholds``; a resumed step computes them again.

    PLOP's code takes the median from a 100-bin histogram of the entropy
    divided by C_old * log(C_old) * log(C_t) (a mean over classes instead
    of a sum, then a second normalisation), so its values fill only the
    first few bins and its thresholds are coarse; here the bins cover the
    normalised entropy H / log(C_old) itself.

    Args:
        num_bins (int): histogram bins of [0, 1].
        min_threshold (float): lower bound of every threshold (PLOP: 0.001).
    """
    priority = 'LOW'

    def __init__(self, num_bins: int = 100,
                 min_threshold: float = 0.001) -> None:
        self.num_bins = num_bins
        self.min_threshold = min_threshold

    @torch.no_grad()
    def before_train(self, runner) -> None:
        model = unwrap_model(runner)
        if model.step == 0:
            return
        device = next(model.parameters()).device
        hist = EntropyHistogram(model.num_old_classes, self.num_bins,
                                device=device)
        for inputs, labels in iterate_epoch(runner,
                                            'pseudo-label thresholds'):
            _, old_logits = model.old_forward(inputs)
            pred, entropy = model.old_prediction_entropy(
                old_logits, labels.shape[1:])
            hist.update(entropy, pred, labels.to(device) == 0)
        hist.all_reduce()
        thresholds = hist.thresholds(self.min_threshold)
        model.set_pseudo_thresholds(thresholds)
        print_log('pseudo-label entropy thresholds per old class: ' +
                  ', '.join(f'{t:.3f}' for t in thresholds.tolist()),
                  logger='current')
