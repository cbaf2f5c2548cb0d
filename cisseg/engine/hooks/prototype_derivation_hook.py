"""STAR-Lite: derive old prototypes at the start of a step, store nothing."""
import json
from typing import Dict

import torch
from mmengine.dist import all_reduce, get_world_size, is_distributed
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmseg.registry import HOOKS
from cisseg.models.utils import (FeatureStatistics, PrototypeBank,
                                 combine_prototypes, extraction_labels,
                                 grid_labels, lite_replay_plan,
                                 recognition_prototypes)
from .prototype_replay_hook import PrototypeReplayHook
from .utils import epoch_batches, iterate_epoch, unwrap_model


@HOOKS.register_module()
class PrototypeDerivationHook(Hook):
    """STAR-Lite: prototypes derived from the old model, nothing stored.

    ``before_train`` at step t > 0, in one pass of the old model over the
    step's training data:

    - extraction side: features of background-labelled cells the old model
      predicts as old class c with sigmoid score >= ``threshold``, their
      unit mean direction, per-dimension noise and norm mean/std
      (:class:`FeatureStatistics`);
    - recognition side: :func:`recognition_prototypes` from the frozen old
      classifiers;
    - prototype = :func:`combine_prototypes`; classes the old model does not
      find in the step's images take the recognition prototype and the mean
      noise/norm statistics of the classes it finds;
    - counts: :func:`lite_replay_plan` (class-balanced replay, background
      repetition from the old model's background share).

    Nothing is written: ``metrics_fields['replay_bytes'] = 0``.

    Args:
        step (int): the Runner's step.
        protocol (dict): ``Protocol.to_dict()``.
        work_dir (str): the run's work dir (unused; for the scheduler).
        threshold (float): extraction-side minimum sigmoid score.
        extraction_weight (float): weight of the extraction side.
        recognition_iters (int): optimisation steps of the recognition side.
        recognition_lr (float): its Adam learning rate.
    """
    priority = 'LOW'
    step_aware = True

    def __init__(self, step: int, protocol: dict, work_dir: str = '',
                 threshold: float = 0.7, extraction_weight: float = 0.5,
                 recognition_iters: int = 1000,
                 recognition_lr: float = 0.05) -> None:
        self.step = step
        self.protocol = json.loads(json.dumps(protocol))
        self.threshold = threshold
        self.extraction_weight = extraction_weight
        self.recognition_iters = recognition_iters
        self.recognition_lr = recognition_lr
        self.metrics_fields: Dict[str, int] = dict(replay_bytes=0)

    def before_run(self, runner) -> None:
        if any(isinstance(h, PrototypeReplayHook) for h in runner.hooks):
            raise ValueError(
                'custom_hooks: STAR-Lite (PrototypeDerivationHook) derives '
                'prototypes and cannot be combined with stored prototypes '
                '(PrototypeReplayHook); use one of the two')

    @torch.no_grad()
    def before_train(self, runner) -> None:
        if self.step == 0:
            return
        model = unwrap_model(runner)
        num_old = model.num_old_classes
        device = next(model.parameters()).device
        f64 = dict(dtype=torch.float64, device=device)
        pred_in_bg = torch.zeros(num_old, **f64)
        cells = torch.zeros(4, **f64)  # old-bg, valid, all, new-labelled
        stats = None
        for inputs, label in iterate_epoch(runner,
                                           'STAR-Lite prototype derivation'):
            old_feats, old_logits = model.old_forward(inputs)
            size = old_logits.shape[2:]
            g_label = grid_labels(label, size)
            g_pred = model.old_model.decode_head.to_class_scores(
                old_logits, bg_logit=model.old_bg_logit).argmax(1)
            if stats is None:
                stats = FeatureStatistics(num_old, old_feats.shape[1],
                                          device)
            stats.update(old_feats, extraction_labels(
                old_logits, g_label, num_old, self.threshold,
                model.old_bg_logit))
            valid = g_label != 255
            pred_in_bg += torch.bincount(
                g_pred[g_label == 0].flatten(),
                minlength=num_old)[:num_old].to(pred_in_bg)
            cells += torch.stack([
                ((g_pred == 0) & valid).sum(), valid.sum(),
                torch.tensor(g_label.numel(), device=device),
                (valid & (g_label >= num_old)).sum()]).to(cells)
        stats.all_reduce()
        if is_distributed():
            all_reduce(pred_in_bg, op='sum')
            all_reduce(cells, op='sum')

        old_ids = list(range(1, num_old))
        extracted = stats.finalize(old_ids)
        heads = model.old_model.decode_head.conv_seg
        weight = torch.cat([h.weight.flatten(1) for h in heads])
        bias = torch.cat([h.bias for h in heads])
        recog = recognition_prototypes(weight, bias, self.recognition_iters,
                                       self.recognition_lr)
        protos = combine_prototypes(
            {c: recog[c - 1] for c in old_ids},
            {c: e['prototype'] for c, e in extracted.items()},
            self.extraction_weight)
        bank = PrototypeBank(self._entries(protos, extracted),
                             meta=dict(step=self.step, derived=True))
        pred_counts = {c: float(pred_in_bg[c]) for c in range(num_old)}
        new_classes = len(self.protocol['steps'][self.step])
        iters = epoch_batches(runner) * get_world_size()
        per_iter, ratio = lite_replay_plan(
            float(cells[3]) / max(new_classes, 1), pred_counts, old_ids,
            float(cells[0]), float(cells[1]), float(cells[2]), iters,
            self.protocol['setting'], pred_counts[0])
        model.set_replay(bank, per_iter, ratio)
        print_log(
            f'step {self.step}: STAR-Lite derived {len(bank)} prototypes '
            f'({len(extracted)} seen in this step\'s images), replay '
            f'{sum(per_iter.values())} features per iteration, background '
            f'repetition ratio {ratio:.3f}', logger='current')

    @staticmethod
    def _entries(protos: dict, extracted: dict) -> dict:
        """Bank entries: derived direction; noise and norms from the
        extraction side, or their mean over found classes."""
        if extracted:
            mean_noise = torch.stack(
                [e['noise'] for e in extracted.values()]).mean(0)
            mean_norm = sum(e['norm_mean'] for e in extracted.values()) / \
                len(extracted)
            mean_std = sum(e['norm_std'] for e in extracted.values()) / \
                len(extracted)
        else:
            dim = next(iter(protos.values())).numel()
            mean_noise, mean_norm, mean_std = torch.zeros(dim), 1.0, 0.0
        out = {}
        for c, p in protos.items():
            e = extracted.get(c)
            out[c] = dict(
                prototype=p.float().cpu(),
                noise=(e['noise'] if e else mean_noise).float().cpu(),
                norm_mean=e['norm_mean'] if e else mean_norm,
                norm_std=e['norm_std'] if e else mean_std,
                count=e['count'] if e else 0.0)
        return out
