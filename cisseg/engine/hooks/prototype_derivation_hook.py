"""STAR-Lite: derive old prototypes at the start of a step."""
import json
import os
import os.path as osp
from typing import Dict, Optional

import torch
from mmengine.dist import (all_reduce, barrier, get_rank, get_world_size,
                           is_distributed)
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmseg.models.utils import resize
from mmseg.registry import HOOKS
from cisseg.models.utils import (EXTRACTION_RULES, FeatureStatistics,
                                 PrototypeBank, class_argmax,
                                 combine_prototypes,
                                 extraction_labels, grid_labels,
                                 lite_replay_plan, masked_bincount,
                                 nearest_prototype_distance,
                                 recognition_prototypes)
from cisseg.utils import atomic_write_text, check_choice
from .prototype_replay_hook import (REPLAY_RULES, PrototypeReplayHook,
                                    replay_plan, updated_counts)
from .utils import epoch_batches, iterate_epoch, unwrap_model

COUNTS_FILE = 'counts.json'
COUNT_MODES = ('stored', 'estimated')
NOISE_MODELS = ('dist', 'extracted')


def _choice(name: str, value: str, allowed) -> str:
    return check_choice(f'PrototypeDerivationHook: {name}', value, allowed)


@HOOKS.register_module()
class PrototypeDerivationHook(Hook):
    """STAR-Lite: old prototypes derived from the old model at each step.

    ``before_train`` at step t > 0, in one pass of the old model over the
    step's training data:

    - extraction side: unit mean of the old model's features over the grid
      cells of each old class (:func:`extraction_labels`, ``extraction``);
    - recognition side: :func:`recognition_prototypes` from the frozen old
      classifiers; prototype = :func:`combine_prototypes` (classes the old
      model does not find take the recognition side alone);
    - noise of the replayed features (``noise``): ``'dist'`` (the
      authors'): every class draws with the mean over old classes of
      :func:`nearest_prototype_distance`, unit features scaled by the
      batch's mean feature norm (:meth:`PrototypeBank.sample`);
      ``'extracted'``: per-dimension noise and norm mean/std of the
      extracted cells (their mean over found classes for the others);
    - replay counts (``counts``): ``'stored'`` (the authors'): the cell
      count of every class seen and η_bg, read from
      ``step_<t-1>/counts.json``, through :func:`replay_plan` with
      ``replay_rule``; after training (every step, 0 included) the step's
      counts are written to ``step_<t>/counts.json`` (new classes: their
      labelled cells in the last epoch; old ones and η_bg:
      :func:`updated_counts`), and ``metrics_fields['replay_bytes']`` is
      its size. ``'estimated'``: :func:`lite_replay_plan` from the step's
      data, nothing written (``replay_bytes`` 0).

    The authors' STAR-Lite is the default; ``counts='estimated',
    extraction='filtered', noise='extracted'`` is cisseg's zero-storage
    variant.

    Args:
        step (int): the Runner's step.
        protocol (dict): ``Protocol.to_dict()``.
        work_dir (str): the run's work dir (holds ``step_<t>/``).
        counts (str): ``'stored'`` or ``'estimated'``.
        extraction (str): ``'predicted'`` or ``'filtered'``.
        noise (str): ``'dist'`` or ``'extracted'``.
        replay_rule (str): ``'tpami'`` (STAR-TPAMI's trainer) or
            ``'neurips'``; used with ``counts='stored'``.
        threshold (float): ``'filtered'``'s minimum sigmoid score.
        extraction_weight (float): weight of the extraction side.
        recognition_iters (int): AdamW steps of the recognition side
            (:func:`recognition_prototypes`; the authors run 500000 at lr
            2.5e-4).
        recognition_lr (float): its (initial) learning rate.
        recognition_anneal (bool): cosine-anneal it to 0.
    """
    priority = 'LOW'
    step_aware = True

    def __init__(self, step: int = 0, protocol: Optional[dict] = None,
                 work_dir: str = '',
                 counts: str = 'stored', extraction: str = 'predicted',
                 noise: str = 'dist', replay_rule: str = 'tpami',
                 threshold: float = 0.7, extraction_weight: float = 0.5,
                 recognition_iters: int = 50000,
                 recognition_lr: float = 2.5e-3,
                 recognition_anneal: bool = False) -> None:
        self.step = step
        self.protocol = json.loads(json.dumps(protocol))
        self.work_dir = work_dir
        self.counts = _choice('counts', counts, COUNT_MODES)
        self.extraction = _choice('extraction', extraction,
                                  EXTRACTION_RULES)
        self.noise = _choice('noise', noise, NOISE_MODELS)
        self.replay_rule = _choice('replay_rule', replay_rule,
                                   REPLAY_RULES)
        self.threshold = threshold
        self.extraction_weight = extraction_weight
        self.recognition_iters = recognition_iters
        self.recognition_lr = recognition_lr
        self.recognition_anneal = recognition_anneal
        self.pred_counts: Dict[int, float] = {}
        self.prev_counts: Optional[dict] = None
        self._window_start: Optional[int] = None
        self.metrics_fields: Dict[str, int] = dict(replay_bytes=0)

    # ------------------------------------------------------------ counts
    def file(self, step: int) -> str:
        return osp.join(self.work_dir, f'step_{step}', COUNTS_FILE)

    def load_counts(self, step: int) -> dict:
        """``{'counts': {train id: cells}, 'bg_count': η_bg}`` of a step."""
        path = self.file(step)
        if not osp.exists(path):
            raise FileNotFoundError(
                f'{path}: class counts of step {step} not found; STAR-Lite '
                "with counts='stored' needs the previous step of the same "
                "run (counts='estimated' stores nothing)")
        with open(path) as f:
            data = json.load(f)
        if data.get('step') != step or data.get('protocol', {}).get(
                'steps') != self.protocol['steps']:
            raise ValueError(
                f"{path}: counts of step {data.get('step')} of protocol "
                f"{data.get('protocol', {}).get('steps')}, expected step "
                f"{step} of {self.protocol['steps']}")
        return dict(counts={int(c): float(n)
                            for c, n in data['counts'].items()},
                    bg_count=float(data['bg_count']))

    # -------------------------------------------------------------- before
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
        if self.counts == 'stored':
            self.prev_counts = self.load_counts(self.step - 1)
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
            # the old logits at the cells' centres of the label-size map
            # (the authors predict there)
            g_logits = grid_labels(
                resize(old_logits, size=label.shape[1:], mode='bilinear',
                       align_corners=model.align_corners), size)
            g_pred = class_argmax(model.old_model.decode_head.to_class_scores(
                g_logits, bg_logit=model.old_bg_logit))
            if stats is None:
                stats = FeatureStatistics(num_old, old_feats.shape[1],
                                          device)
            stats.update(old_feats, extraction_labels(
                g_logits, g_label, num_old, self.extraction, self.threshold,
                model.old_bg_logit))
            valid = g_label != 255
            pred_in_bg += masked_bincount(g_pred, num_old,
                                          mask=g_label == 0)
            # no tensor made from a Python number: a host-to-device copy
            cells[:2] += torch.stack([((g_pred == 0) & valid).sum(),
                                      valid.sum()])
            cells[2] += g_label.numel()
            cells[3] += (valid & (g_label >= num_old)).sum()
        stats.all_reduce()
        if is_distributed():
            all_reduce(pred_in_bg, op='sum')
            all_reduce(cells, op='sum')

        old_ids = list(range(1, num_old))
        extracted = stats.finalize(old_ids)
        heads = model.old_model.decode_head.conv_seg
        weight = torch.cat([h.weight.flatten(1) for h in heads])
        bias = torch.cat([h.bias for h in heads])
        # K x C tensors: on a GPU each of the loop's operations would cost
        # a kernel launch, longer than the arithmetic; the CPU runs it
        # several times faster (and gives every device the same result)
        recog = recognition_prototypes(
            weight.cpu(), bias.cpu(), self.recognition_iters,
            self.recognition_lr, anneal=self.recognition_anneal).to(device)
        protos = combine_prototypes(
            {c: recog[c - 1] for c in old_ids},
            {c: e['prototype'] for c, e in extracted.items()},
            self.extraction_weight)
        self.pred_counts = {c: float(pred_in_bg[c]) for c in range(num_old)}
        iters = epoch_batches(runner) * get_world_size()
        if self.counts == 'stored':
            per_iter, ratio = replay_plan(
                {c: self.prev_counts['counts'].get(c, 0.0)
                 for c in old_ids}, self.prev_counts['bg_count'],
                self.pred_counts, iters, self.protocol['setting'],
                len(self.protocol['steps'][self.step]), self.replay_rule)
        else:
            new_classes = len(self.protocol['steps'][self.step])
            per_iter, ratio = lite_replay_plan(
                float(cells[3]) / max(new_classes, 1), self.pred_counts,
                old_ids, float(cells[0]), float(cells[1]), float(cells[2]),
                iters, self.protocol['setting'], self.pred_counts[0])
        bank = PrototypeBank(self._entries(protos, extracted),
                             meta=dict(step=self.step, derived=True))
        model.set_replay(bank, per_iter, ratio)
        print_log(
            f'step {self.step}: STAR-Lite derived {len(bank)} prototypes '
            f'({len(extracted)} seen in this step\'s images), replay '
            f'{sum(per_iter.values())} features per iteration ({self.counts}'
            f' counts), background repetition ratio {ratio:.3f}',
            logger='current')

    def _entries(self, protos: dict, extracted: dict) -> dict:
        """Bank entries: the derived direction and the noise model's
        fields."""
        if self.noise == 'dist':
            ids = sorted(protos)
            dist = float(nearest_prototype_distance(
                torch.stack([protos[c] for c in ids])).mean()) if ids else 0.
            return {c: dict(prototype=protos[c].float().cpu(), dist=dist,
                            count=extracted.get(c, {}).get('count', 0.0))
                    for c in ids}
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

    # ------------------------------------------- last-epoch label counts
    def before_train_iter(self, runner, batch_idx: int,
                          data_batch=None) -> None:
        """With stored counts, count the step's labelled cells on the
        training batches of the last epoch (the segmentor's
        ``feature_stats``)."""
        if self.counts != 'stored':
            return
        model = unwrap_model(runner)
        start = runner.max_iters - epoch_batches(runner)
        if runner.iter == start and model.feature_stats is None:
            model.feature_stats = FeatureStatistics(
                model.decode_head.num_classes, model.decode_head.channels,
                next(model.parameters()).device)
            self._window_start = start

    def _label_counts(self, runner):
        """Cells per train id of the step's data: from the last epoch, or
        (resumed inside it) from an extra pass."""
        model = unwrap_model(runner)
        stats, model.feature_stats = model.feature_stats, None
        if stats is not None and self._window_start is not None:
            stats.all_reduce()
            return stats.count
        num = model.decode_head.num_classes
        device = next(model.parameters()).device
        count = torch.zeros(num, dtype=torch.float64, device=device)
        was_training = model.training
        model.eval()
        for inputs, label in iterate_epoch(runner,
                                           f'step {self.step} class counts'):
            feats, _ = model.decode_features(inputs)
            g = grid_labels(label, feats.shape[2:]).flatten()
            count += masked_bincount(g, num)
        model.train(was_training)
        if is_distributed():
            all_reduce(count, op='sum')
        return count

    # --------------------------------------------------------------- after
    @torch.no_grad()
    def after_train(self, runner) -> None:
        if self.counts != 'stored':
            self.metrics_fields = dict(replay_bytes=0)
            return
        model = unwrap_model(runner)
        head = model.decode_head
        count = self._label_counts(runner)
        new_ids = list(range(head.num_classes - head.classes_per_step[-1],
                             head.num_classes))
        if self.step == 0:
            counts, bg_count = {}, float(count[0])
        else:
            prev = self.prev_counts or self.load_counts(self.step - 1)
            counts, bg_count = updated_counts(
                prev['counts'], prev['bg_count'], self.pred_counts,
                self.protocol['setting'],
                len(self.protocol['steps'][self.step]), self.replay_rule)
        counts.update({c: float(count[c]) for c in new_ids if c != 0})
        path = self.file(self.step)
        if get_rank() == 0:
            os.makedirs(osp.dirname(path), exist_ok=True)
            atomic_write_text(path, json.dumps(dict(
                step=self.step, protocol=self.protocol, bg_count=bg_count,
                counts={str(c): counts[c] for c in sorted(counts)})))
        if is_distributed():
            barrier()
        self.metrics_fields = dict(replay_bytes=os.path.getsize(path))
        print_log(f'step {self.step}: STAR-Lite class counts (η_bg '
                  f'{bg_count:.0f}) saved to {path} '
                  f'({self.metrics_fields["replay_bytes"]} bytes)',
                  logger='current')
