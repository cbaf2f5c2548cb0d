"""Exemplar memory around a step: build the memory kept after it.

``incremental.memory = dict(size=50)`` in a config turns it on for any
method (:func:`add_memory` puts this hook and the memory file into every
step's config); the STAR authors call STAR-Basic with it STAR-M.
"""
import copy
import json
import os.path as osp
from typing import Dict, List, Optional

import torch
from mmengine.dataset import pseudo_collate
from mmengine.dist import all_gather_object, barrier, get_rank, \
    get_world_size, is_distributed
from mmengine.hooks import Hook
from mmengine.logging import print_log

from mmseg.registry import DATASETS, HOOKS
from cisseg.datasets.memory import (MEMORY_LABELS, MEMORY_RULES,
                                    data_relpath, load_memory,
                                    memory_bytes, memory_file,
                                    merge_candidates, select_memory)
from cisseg.datasets.protocols import build_protocol
from cisseg.utils import atomic_write_text
from ..runner_utils import release_runner
from .utils import unwrap_model

MEMORY_KEYS = ('size', 'rule', 'labels', 'score_thr')


def add_memory(cfg, step: int, work_dir: str) -> None:
    """Apply ``cfg.incremental.memory`` to the config of ``step``: an
    :class:`ExemplarMemoryHook` (the step scheduler fills its step,
    protocol and work dir) and, at t > 0, the memory kept after step t-1
    added to the training set. ``size=0`` (or no ``memory``) is off."""
    memory = cfg.incremental.get('memory')
    if not memory:
        return
    unknown = sorted(set(memory) - set(MEMORY_KEYS))
    if unknown:
        raise ValueError(f'incremental.memory: unknown keys {unknown}, '
                         f'expected some of {list(MEMORY_KEYS)}')
    size = memory.get('size', 0)
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ValueError('incremental.memory.size must be a number of '
                         f'images >= 0, got {size!r}')
    rule = memory.get('rule', 'balanced')
    if rule not in MEMORY_RULES:
        raise ValueError(f'incremental.memory.rule: unknown rule {rule!r}, '
                         f'expected one of {sorted(MEMORY_RULES)}')
    labels = memory.get('labels', 'step')
    if labels not in MEMORY_LABELS:
        raise ValueError(f'incremental.memory.labels must be one of '
                         f'{list(MEMORY_LABELS)}, got {labels!r}')
    if size == 0:
        return
    cfg.custom_hooks = list(cfg.get('custom_hooks') or []) + [
        dict(type='ExemplarMemoryHook', size=size, rule=rule,
             score_thr=memory.get('score_thr', 0.9))]
    if step > 0:
        dataset = cfg.train_dataloader.dataset
        if dataset.get('type') != 'IncrementalSegDataset':
            raise ValueError('incremental.memory needs train_dataloader.'
                             "dataset.type='IncrementalSegDataset', got "
                             f"{dataset.get('type')!r}")
        dataset.memory_file = memory_file(work_dir, step - 1)
        dataset.memory_labels = labels


@HOOKS.register_module()
class ExemplarMemoryHook(Hook):
    """Keep ``size`` training images after a step, for the later steps.

    ``after_train`` of step t: the candidates are the memory kept after
    step t-1 and the images step t trained on (not its memory images), each
    with the classes it is known to contain: the classes labelled at step t
    and, at t > 0, those the trained model predicts with a probability of
    at least ``score_thr`` on pixels labelled background (the authors'
    pseudo labels; at step 0 every base class is labelled). ``rule`` picks
    ``size`` of them over the foreground classes seen so far; the list is
    written to ``step_<t>/memory.json`` (atomic, rank 0) and
    ``metrics_fields`` gets ``memory_images`` and ``memory_bytes`` (image
    and label files on disk).

    The pass runs the test pipeline (no random crop or flip) in eval mode,
    one image at a time, each rank its share: the memory depends only on
    the weights, the data and the seed, so a step run again after a kill
    keeps the same memory.

    Args:
        step (int): the Runner's step.
        protocol (dict): ``Protocol.to_dict()``.
        work_dir (str): the run's work dir (holds ``step_<t>/``).
        size (int): images kept.
        rule (str): 'balanced' (the authors') or 'random'.
        score_thr (float): probability of a pseudo label.
        seed (int, optional): defaults to the config's
            ``randomness.seed`` (0 when unset).
    """
    priority = 'LOW'
    step_aware = True  # the step scheduler fills step, protocol, work_dir

    def __init__(self, step: int = 0, protocol: Optional[dict] = None,
                 work_dir: str = '',
                 size: int = 50, rule: str = 'balanced',
                 score_thr: float = 0.9,
                 seed: Optional[int] = None) -> None:
        if rule not in MEMORY_RULES:
            raise ValueError(f'ExemplarMemoryHook.rule: unknown rule '
                             f'{rule!r}, expected one of '
                             f'{sorted(MEMORY_RULES)}')
        self.step = step
        self.protocol = protocol and build_protocol(**protocol)
        self.work_dir = work_dir
        self.size = size
        self.rule = rule
        self.score_thr = score_thr
        self.seed = seed
        self.metrics_fields: Dict[str, int] = {}

    # ------------------------------------------------------------ helpers
    def _step_dataset(self, runner):
        """The step's own training images through the test pipeline."""
        cfg = copy.deepcopy(runner.cfg.train_dataloader.dataset)
        cfg.pop('memory_file', None)
        test = runner.cfg.test_dataloader.dataset
        cfg.dataset.pipeline = copy.deepcopy(
            test.get('dataset', test).pipeline)
        return DATASETS.build(cfg)

    def _foreground(self, classes) -> set:
        return set(classes) - ({0} if self.protocol.has_background
                               else set())

    @torch.no_grad()
    def _pseudo_classes(self, runner, dataset) -> List[List[int]]:
        """Per image, the dataset ids the model predicts with probability
        >= ``score_thr`` on pixels labelled background."""
        model = unwrap_model(runner)
        formulation = getattr(model.decode_head, 'formulation', 'softmax')
        # train id -> dataset id (train id 0 is background)
        ids = [0] + self.protocol.seen_classes(self.step)[
            1 if self.protocol.has_background else 0:]
        was_training = model.training
        model.eval()
        found = []
        rank, world = get_rank(), get_world_size()
        for i in range(rank, len(dataset), world):
            sample = model.test_step(pseudo_collate([dataset[i]]))[0]
            scores = sample.seg_logits.data
            label = sample.gt_sem_seg.data.to(scores.device).float()
            if label.shape[1:] != scores.shape[1:]:
                label = torch.nn.functional.interpolate(
                    label[None], scores.shape[1:], mode='nearest')[0]
            probs = scores[1:].sigmoid() if formulation == 'sigmoid' \
                else scores.softmax(dim=0)[1:]
            best, arg = probs.max(dim=0)
            hit = (label[0] == 0) & (best >= self.score_thr)
            found.append((i, sorted(ids[int(t) + 1]
                                    for t in arg[hit].unique())))
        model.train(was_training)
        if is_distributed():
            found = [x for part in all_gather_object(found) for x in part]
        by_index = dict(found)
        return [by_index[i] for i in range(len(dataset))]

    # --------------------------------------------------------------- build
    def build(self, runner) -> dict:
        """Build, store and return the memory kept after this step."""
        dataset = self._step_dataset(runner)
        root = dataset.dataset.data_root
        new = self._foreground(self.protocol.new_classes(self.step))
        classes = [sorted(set(c) & new) for c in dataset.image_classes]
        if self.step > 0:
            pseudo = self._pseudo_classes(runner, dataset)
            classes = [sorted(set(a) | set(b))
                       for a, b in zip(classes, pseudo)]
        candidates = []
        for i, cls in enumerate(classes):
            info = dataset.get_data_info(i)
            candidates.append(dict(
                img_path=data_relpath(info['img_path'], root),
                seg_map_path=data_relpath(info['seg_map_path'], root),
                classes=cls))
        steps = self.protocol.to_dict()['steps']
        previous = []
        if self.step > 0:
            previous = load_memory(memory_file(self.work_dir, self.step - 1),
                                   self.step - 1, steps)['images']
        seed = self.seed
        if seed is None:
            seed = (runner.cfg.get('randomness') or {}).get('seed') or 0
        seen = sorted(self._foreground(self.protocol.seen_classes(self.step)))
        images = select_memory(merge_candidates(previous, candidates), seen,
                               self.size, self.rule, seed, self.step)
        nbytes = memory_bytes(images, root or '.')
        data = dict(step=self.step, rule=self.rule, size=self.size,
                    seed=seed, score_thr=self.score_thr, protocol=steps,
                    memory_bytes=nbytes, images=images)
        path = memory_file(self.work_dir, self.step)
        if get_rank() == 0:
            atomic_write_text(path, json.dumps(data, indent=1))
        if is_distributed():
            barrier()
        self.metrics_fields = dict(memory_images=len(images),
                                   memory_bytes=nbytes)
        per_class = {}
        for img in images:
            per_class[img['picked_for']] = per_class.get(
                img['picked_for'], 0) + 1
        print_log(f'step {self.step}: memory of {len(images)} images '
                  f'({nbytes} bytes) from {len(candidates)} + '
                  f'{len(previous)} candidates, saved to {path}; images '
                  f'per class {per_class}', logger='current')
        return data

    def after_train(self, runner) -> None:
        self.build(runner)


def build_memory_from_checkpoint(cfg) -> Dict[str, int]:
    """Build the memory of a finished step from its checkpoint, in a Runner
    of ``cfg`` (the step's test-only config with ``incremental.memory``).
    Returns the ``metrics_fields``."""
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    runner.load_or_resume()
    hook = next((h for h in runner.hooks
                 if isinstance(h, ExemplarMemoryHook)), None)
    if hook is None:
        raise ValueError('the config has no ExemplarMemoryHook: set '
                         'incremental.memory.size > 0')
    hook.build(runner)
    release_runner(runner)
    return hook.metrics_fields


def ensure_memory(scheduler, data: dict, step: int) -> dict:
    """With ``incremental.memory``, build the memory kept after the
    finished ``step`` of ``scheduler``'s run if its file is missing (e.g. a
    step 0 copied from a run without memory), from that step's checkpoint
    (older missing memories first); its metrics.json entry gets the memory
    fields. Returns the metrics data."""
    size = (scheduler.cfg.incremental.get('memory') or {}).get('size', 0)
    if not size or osp.exists(memory_file(scheduler.work_dir, step)):
        return data
    entry = scheduler.finished(data, step)
    if entry is None:
        raise ValueError(f'{memory_file(scheduler.work_dir, step)}: missing '
                         f'and step {step} is not finished; run it first')
    if step > 0:
        data = ensure_memory(scheduler, data, step - 1)
    print_log(f'step {step}: no exemplar memory in this run; building it '
              'from its checkpoint', logger='current')
    checkpoint = osp.join(scheduler.work_dir, entry['checkpoint'])
    fields = build_memory_from_checkpoint(
        scheduler.config_for_step(step, checkpoint, test_only=True))
    return scheduler.record(data, dict(entry, **fields))
