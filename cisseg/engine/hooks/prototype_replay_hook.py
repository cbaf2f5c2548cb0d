"""STAR-Basic's prototype bookkeeping around a step's training."""
import json
import os
import os.path as osp
from typing import Dict, Optional

import torch
from mmengine.dist import all_reduce, barrier, get_rank, get_world_size, \
    is_distributed
from mmengine.hooks import Hook
from mmengine.logging import print_log
from torch import Tensor

from mmseg.registry import HOOKS
from cisseg.models.utils import (FeatureStatistics, PrototypeBank, grid_labels,
                                 masked_bincount)
from cisseg.utils import check_choice
from .utils import epoch_batches, iterate_epoch, unwrap_model

PROTOTYPE_FILE = 'prototypes.pth'


REPLAY_RULES = ('neurips', 'tpami')
NOISE_REFERENCES = ('own', 'authors_index')
NOISE_MODELS = ('neurips', 'dist')


def _check_rule(rule: str) -> None:
    check_choice('replay_rule', rule, REPLAY_RULES)


def authors_noise_centres(prev: PrototypeBank, first_new: int,
                          new_entries: Dict[int, dict]) -> Dict[int, Tensor]:
    """The vectors the STAR code measures each new class's noise about at
    t > 0. It indexes the concatenated prototype list (train ids 1, 2, ...)
    by the class's position among the step's new classes, so new class c
    gets the prototype of train id c - first_new + 1: an old class's
    (a zero vector where that class has no prototype)."""
    out = {}
    for c, e in new_entries.items():
        ref = c - first_new + 1
        src = prev.classes if ref < first_new else new_entries
        out[c] = src[ref]['prototype'] if ref in src else \
            torch.zeros_like(e['prototype'])
    return out


def replay_plan(counts: Dict[int, float], bg_count: float,
                pred_counts: Dict[int, float], iters: int, setting: str,
                num_new: int, rule: str = 'neurips'):
    """Synthetic features per old class per iteration, and the background
    repetition ratio (the authors' rules).

    Args:
        counts: stored cell count n_c of each old class.
        bg_count: stored cumulative background count η_bg.
        pred_counts: cells of this step's data that are label background
            and predicted as class c by the old model (0: background).
        iters: batches in one epoch of this step, summed over ranks: the
            result is per batch of one rank.
        setting: 'overlap' or 'disjoint'.
        num_new: classes added at this step.
        rule: 'neurips' (STAR's code, the NeurIPS paper's STAR-Basic) or
            'tpami' (STAR-TPAMI's trainer, which both its STAR-Basic and
            STAR-Lite scripts run).

    Returns:
        tuple[dict, float]: 'neurips': ``{c: int(max(n_c - pred_c, 0) /
        iters)}`` (disjoint: ``int(n_c / iters)``) and ``r = max(η_bg (1 -
        0.01 num_new) / pred_0 - 0.5, 0)`` (disjoint: ``η_bg / pred_0``);
        'tpami': the disjoint rule in both settings.
    """
    _check_rule(rule)
    overlap = setting == 'overlap' and rule == 'neurips'
    per_iter = {}
    for c, n in counts.items():
        left = n - pred_counts.get(c, 0.0) if overlap else n
        per_iter[c] = int(max(left, 0.0) / max(iters, 1))
    pred_bg = max(pred_counts.get(0, 0.0), 1.0)
    if overlap:
        ratio = bg_count * (1 - 0.01 * num_new) / pred_bg - 0.5
    else:
        ratio = bg_count / pred_bg
    return per_iter, max(ratio, 0.0)


def updated_counts(counts: Dict[int, float], bg_count: float,
                   pred_counts: Dict[int, float], setting: str, num_new: int,
                   rule: str = 'neurips'):
    """The old classes' counts and η_bg stored after a step t > 0 (new
    classes add their labelled cells).

    'neurips': overlapped ``η_bg (1 - 0.01 num_new) + 0.5 pred_0``, counts
    kept; disjoint ``η_bg + pred_0``, ``n_c + pred_c``. 'tpami': ``η_bg +
    pred_0``, counts kept, in both settings.

    Returns:
        tuple[dict, float]: counts and η_bg.
    """
    _check_rule(rule)
    pred_bg = pred_counts.get(0, 0.0)
    counts = dict(counts)
    if rule == 'tpami':
        return counts, bg_count + pred_bg
    if setting == 'overlap':
        return counts, bg_count * (1 - 0.01 * num_new) + 0.5 * pred_bg
    for c in counts:
        counts[c] += pred_counts.get(c, 0.0)
    return counts, bg_count + pred_bg


@HOOKS.register_module()
class PrototypeReplayHook(Hook):
    """STAR-Basic: store prototypes after a step, replay them in the next.

    ``before_train`` (step t > 0): loads ``step_<t-1>/prototypes.pth``, runs
    the old model once over the step's training data to count, on the
    feature grid, the cells it predicts as each old class inside label
    background (pred_i) and as background (pred_0), and gives the segmentor

    - replay counts per iteration: overlapped ``(n_i - pred_i) / iters``
      (old-class pixels already present in this step's images are not
      replayed again), disjoint ``n_i / iters``; ``iters`` is one epoch;
    - the background repetition ratio ``r``: overlapped
      ``η_bg (1 - 0.01 |new|) / pred_0 - 0.5``, disjoint ``η_bg / pred_0``,
      at least 0 (the authors' rule).

    These are the rules of STAR's (NeurIPS) code (``replay_rule='neurips'``,
    the default); ``'tpami'`` applies STAR-TPAMI's trainer's, which keeps
    the disjoint rules in the overlapped setting too (:func:`replay_plan`,
    :func:`updated_counts`).

    ``after_train``: stores, for each new class, its prototype, noise
    scale, norm mean/std and cell count, plus η_bg, with the old classes'
    entries, in ``step_<t>/prototypes.pth`` (atomic, rank 0). Statistics are
    summed across ranks. ``metrics_fields['replay_bytes']`` is its size.
    The statistics come from the features the segmentor computes anyway
    during the last epoch of training (``collect_in_last_epoch``) when BN is
    frozen (then training-mode features are the eval-mode ones; the authors
    also pass the augmented training data); otherwise (step 0, BN training,
    or a resume inside the last epoch) from an extra eval-mode pass.

    Args:
        step (int): the Runner's step.
        protocol (dict): ``Protocol.to_dict()``.
        work_dir (str): the run's work dir (holds ``step_<t>/``).
        collect_in_last_epoch (bool): reuse the last epoch's features
            (cisseg's: saves a pass); False: always the eval-mode pass
            after training, as the authors compute the statistics.
        replay_rule (str): ``'neurips'`` or ``'tpami'``.
        noise_reference (str): what a new class's noise scale is measured
            about at t > 0: ``'own'``, its own prototype, or
            ``'authors_index'``, as the STAR code indexes it: the prototype
            at the class's position among the step's new classes in the
            concatenated (old + new) list, i.e. an old class's prototype
            (:func:`authors_noise_centres`). Step 0 is the same for both.
        noise (str): the stored noise model: ``'neurips'``, per-dimension
            RMS and norm mean/std (STAR's NeurIPS code), or ``'dist'``, one
            scalar per class, the RMS chord distance of the unit features
            to the reference above, replayed as STAR-TPAMI's STAR-Basic
            (``--noise_type dist``) replays it (:meth:`PrototypeBank.sample`).
    """
    priority = 'LOW'  # after IncrementalStepHook's classifier init
    step_aware = True  # the step scheduler fills step, protocol, work_dir

    def __init__(self, step: int = 0, protocol: Optional[dict] = None,
                 work_dir: str = '',
                 collect_in_last_epoch: bool = True,
                 replay_rule: str = 'neurips',
                 noise_reference: str = 'own',
                 noise: str = 'neurips') -> None:
        _check_rule(replay_rule)
        self.noise = check_choice('PrototypeReplayHook: noise', noise,
                                  NOISE_MODELS)
        self.noise_reference = check_choice(
            'PrototypeReplayHook: noise_reference', noise_reference,
            NOISE_REFERENCES)
        self.step = step
        self.replay_rule = replay_rule
        self.collect_in_last_epoch = collect_in_last_epoch
        self._window_start: Optional[int] = None
        # plain types: the dict is saved in files loaded with weights_only
        self.protocol = json.loads(json.dumps(protocol))
        self.work_dir = work_dir
        self.prev_bank: Optional[PrototypeBank] = None
        self.pred_counts: Dict[int, float] = {}
        self.metrics_fields: Dict[str, int] = {}

    def file(self, step: int) -> str:
        return osp.join(self.work_dir, f'step_{step}', PROTOTYPE_FILE)

    @property
    def _num_new(self) -> int:
        return len(self.protocol['steps'][self.step])

    def load_bank(self, step: int) -> PrototypeBank:
        path = self.file(step)
        if not osp.exists(path):
            raise FileNotFoundError(
                f'{path}: prototypes of step {step} not found; STAR-Basic '
                'needs the previous step of the same run')
        bank = PrototypeBank.load(path)
        if bank.meta.get('step') != step or \
                bank.meta.get('protocol', {}).get('steps') != \
                self.protocol['steps']:
            raise ValueError(
                f"{path}: prototypes of step {bank.meta.get('step')} of "
                f"protocol {bank.meta.get('protocol', {}).get('steps')}, "
                f"expected step {step} of {self.protocol['steps']}")
        return bank

    # -------------------------------------------------------------- before
    def before_run(self, runner) -> None:
        model = unwrap_model(runner)
        if not hasattr(model, 'set_replay'):
            raise ValueError(
                'custom_hooks: PrototypeReplayHook (STAR-Basic) needs a '
                'segmentor with prototype replay (model.type='
                f"'STARSegmentor'), got {type(model).__name__}")

    @torch.no_grad()
    def before_train(self, runner) -> None:
        if self.step == 0:
            return
        model = unwrap_model(runner)
        bank = self.load_bank(self.step - 1)
        num_old = model.num_old_classes
        counts = torch.zeros(num_old, dtype=torch.float64,
                             device=next(model.parameters()).device)
        for inputs, label in iterate_epoch(runner,
                                           'old-model prediction counts'):
            _, old_logits = model.old_forward(inputs)
            pred = model.old_full_prediction(old_logits, label.shape[1:])
            g_label = grid_labels(label, old_logits.shape[2:])
            g_pred = grid_labels(pred, old_logits.shape[2:])
            counts += masked_bincount(g_pred, num_old, mask=g_label == 0)
        if is_distributed():
            all_reduce(counts, op='sum')
        self.prev_bank = bank
        self.pred_counts = {i: float(counts[i]) for i in range(num_old)}
        per_iter, ratio = replay_plan(
            bank.counts(), bank.bg_count, self.pred_counts,
            epoch_batches(runner) * get_world_size(),
            self.protocol['setting'], self._num_new, self.replay_rule)
        model.set_replay(bank, per_iter, ratio)
        print_log(f'step {self.step}: replay {sum(per_iter.values())} '
                  f'prototype features per iteration {per_iter}, background '
                  f'repetition ratio {ratio:.3f}', logger='current')

    # ---------------------------------------------------- last-epoch stats
    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        model = unwrap_model(runner)
        start = runner.max_iters - epoch_batches(runner)
        if self.collect_in_last_epoch and model.freeze_bn and \
                runner.iter == start and model.feature_stats is None:
            model.feature_stats = FeatureStatistics(
                model.decode_head.num_classes, model.decode_head.channels,
                next(model.parameters()).device)
            self._window_start = start

    def _pass_statistics(self, runner) -> FeatureStatistics:
        """Eval-mode pass of the trained model over the step's data."""
        model = unwrap_model(runner)
        was_training = model.training
        model.eval()
        stats = None
        for inputs, label in iterate_epoch(runner,
                                           f'step {self.step} prototypes'):
            feats, _ = model.decode_features(inputs)
            if stats is None:
                stats = FeatureStatistics(model.decode_head.num_classes,
                                          feats.shape[1], feats.device)
            stats.update(feats, grid_labels(label, feats.shape[2:]))
        model.train(was_training)
        return stats

    # --------------------------------------------------------------- after
    @torch.no_grad()
    def after_train(self, runner) -> None:
        model = unwrap_model(runner)
        head = model.decode_head
        num_classes = head.num_classes
        stats, model.feature_stats = model.feature_stats, None
        if stats is None or self._window_start is None:
            stats = self._pass_statistics(runner)
        stats.all_reduce()
        new_ids = list(range(num_classes - head.classes_per_step[-1],
                             num_classes))
        new_ids = [c for c in new_ids if c != 0]
        prev = None
        if self.step > 0:
            prev = self.prev_bank or self.load_bank(self.step - 1)
        entries = stats.finalize(new_ids)
        if prev is not None and self.noise_reference == 'authors_index':
            # the same prototypes, the noise about the indexed ones
            entries = stats.finalize(new_ids, noise_centres=(
                authors_noise_centres(prev, new_ids[0], entries)))
        if self.noise == 'dist':
            # RMS of |f^ - q| = the norm of the per-dimension RMS vector
            entries = {c: dict(prototype=e['prototype'],
                               dist=float(e['noise'].double().norm()),
                               count=e['count'])
                       for c, e in entries.items()}
        label_bg = float(stats.count[0])
        if self.step == 0:
            classes, bg_count = {}, label_bg
        else:
            classes = {c: dict(e) for c, e in prev.classes.items()}
            counts, bg_count = updated_counts(
                prev.counts(), prev.bg_count, self.pred_counts,
                self.protocol['setting'], self._num_new, self.replay_rule)
            for c, n in counts.items():
                classes[c]['count'] = n
        classes.update(entries)
        bank = PrototypeBank(classes, bg_count,
                             meta=dict(step=self.step,
                                       protocol=self.protocol))
        path = self.file(self.step)
        if get_rank() == 0:
            bank.save(path)
        if is_distributed():
            barrier()
        self.metrics_fields = dict(replay_bytes=os.path.getsize(path))
        print_log(f'step {self.step}: {len(bank)} prototypes, η_bg '
                  f'{bank.bg_count:.0f}, saved to {path} '
                  f'({self.metrics_fields["replay_bytes"]} bytes)',
                  logger='current')
