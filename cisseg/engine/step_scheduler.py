"""Drive a whole incremental protocol: one mmengine Runner per step."""
import copy
import glob
import gc
import json
import os
import os.path as osp
import re
import time
from typing import Dict, List, Optional, Sequence

from mmengine.config import Config
from mmengine.dist import barrier, get_rank, is_distributed
from mmengine.logging import print_log
from prettytable import PrettyTable

from cisseg.datasets import build_protocol, ensure_synthetic_voc
from cisseg.utils import atomic_write_text
from .checkpoint import checkpoint_meta
from .hooks.exemplar_memory_hook import add_memory, ensure_memory
from .step_scalars import add_step_scalars

METRICS_FILE = 'metrics.json'
SUMMARY_KEYS = ('mIoU_base', 'mIoU_inc', 'mIoU_all', 'hIoU')
# What a step keeps for later steps (shown when a run has them).
STORAGE_KEYS = ('memory_images', 'memory_bytes', 'replay_bytes')


def parse_steps(text: Optional[str], num_steps: int) -> List[int]:
    """'A-B', 'A' or None (all steps) -> list of step indices."""
    if text is None:
        return list(range(num_steps))
    m = re.fullmatch(r'(\d+)(?:-(\d+))?', str(text).strip())
    if not m:
        raise ValueError(f"--steps: expected 'A-B' or 'A', got {text!r}")
    a = int(m.group(1))
    b = int(m.group(2)) if m.group(2) is not None else a
    if not 0 <= a <= b < num_steps:
        raise ValueError(f'--steps {text}: the protocol has steps '
                         f'0..{num_steps - 1}')
    return list(range(a, b + 1))


def _merge(a: dict, b: dict) -> dict:
    """Merge ``b`` into a copy of ``a`` as mmengine merges configs
    (``_delete_=True`` replaces a dict)."""
    out = Config(copy.deepcopy(a))
    out.merge_from_dict(copy.deepcopy(b), allow_list_keys=True)
    return out.to_dict()


def latest_checkpoint(step_dir: str) -> Optional[str]:
    """The newest ``iter_*.pth``/``epoch_*.pth`` in ``step_dir``."""
    found = []
    for path in glob.glob(osp.join(step_dir, '*_*.pth')):
        m = re.fullmatch(r'(iter|epoch)_(\d+)\.pth', osp.basename(path))
        if m:
            found.append((int(m.group(2)), path))
    return max(found)[1] if found else None


class StepScheduler:
    """Run the steps of ``cfg.incremental``'s protocol in one process.

    For each step t: build the step's config (:meth:`config_for_step`),
    train it with an mmengine Runner (starting from step t-1's weights with
    the classifier grown for the new classes), test it on val with the
    classes seen so far, and record the step in ``WORK_DIR/metrics.json``
    (atomic write). A step with an entry in metrics.json is finished; with
    ``resume=True`` finished steps are skipped and an unfinished step
    resumes from its newest checkpoint.

    Args:
        cfg (Config): the full config (with an ``incremental`` section).
        steps (str, optional): 'A-B' to run only these steps.
        resume (bool): skip finished steps, resume an unfinished one.
    """

    def __init__(self, cfg: Config, steps: Optional[str] = None,
                 resume: bool = False) -> None:
        if 'incremental' not in cfg:
            raise KeyError('config has no `incremental` section: it is not a '
                           'cisseg incremental config')
        if not cfg.get('work_dir'):
            raise ValueError('work_dir is not set (use --work-dir)')
        self.cfg = cfg
        self.work_dir = osp.abspath(cfg.work_dir)
        self.resume = resume
        inc = cfg.incremental
        self.method = inc.get('method', cfg.model.get('type'))
        self.protocol = build_protocol(
            inc.dataset, inc.get('task', 'custom'),
            inc.get('setting', 'overlap'), steps=inc.get('steps'),
            order_seed=inc.get('order_seed'),
            class_names=self._dataset_class_names(),
            unseen=inc.get('unseen', 'background'))
        self.steps = parse_steps(steps, self.protocol.num_steps)
        self.metrics_path = osp.join(self.work_dir, METRICS_FILE)

    # --------------------------------------------------------------- config
    def _dataset_class_names(self) -> Sequence[str]:
        from mmseg.registry import DATASETS
        inner = self.cfg.train_dataloader.dataset.get('dataset', {})
        cls = DATASETS.get(inner.get('type', ''))
        return cls.METAINFO['classes'] if cls is not None else ()

    def step_dir(self, step: int) -> str:
        return osp.join(self.work_dir, f'step_{step}')

    def config_for_step(self, step: int,
                        load_from: Optional[str] = None,
                        test_only: bool = False) -> Config:
        """The config of one step's Runner.

        Applies ``incremental.step_overrides`` ('base' for step 0, 'inc' for
        later steps, then the step's own index), grows the classifier to the
        classes seen at ``step``, points the datasets at the step, sets
        ``load_from`` (and the old model) to ``load_from``, a work dir
        ``WORK_DIR/step_<t>`` and a unique experiment name. With
        ``test_only``, ``load_from`` is the step's own checkpoint and no old
        model is built.
        """
        base = self.cfg.to_dict()
        overrides = base['incremental'].get('step_overrides') or {}
        for key in ('base' if step == 0 else 'inc', str(step), step):
            if key in overrides:
                base = _merge(base, overrides[key])
        cfg = Config(base, filename=self.cfg.filename)
        proto = self.protocol

        head = cfg.model.decode_head
        head.classes_per_step = proto.classes_per_step(step)
        head.num_classes = proto.num_seen(step)
        from mmseg.registry import MODELS
        seg_cls = MODELS.get(cfg.model.type)
        if test_only:
            cfg.load_from = load_from
        elif step > 0:
            if load_from is None:
                raise ValueError(f'step {step} needs the checkpoint of step '
                                 f'{step - 1}')
            cfg.load_from = load_from
            if getattr(seg_cls, 'needs_old_model', False):
                cfg.model.old_checkpoint = load_from
        elif load_from is not None:
            cfg.load_from = load_from

        data_root = cfg.get('data_root')
        for split in ('train', 'val', 'test'):
            loader = cfg.get(f'{split}_dataloader')
            if not loader or loader.dataset.type != 'IncrementalSegDataset':
                continue
            loader.dataset.protocol = proto.to_dict()
            loader.dataset.step = step
            if data_root is not None:  # --cfg-options data_root=... wins
                loader.dataset.dataset.data_root = data_root
            inner = loader.dataset.dataset
            if split == 'test' and 'pipeline' in inner:
                # where mmseg's MMSegInferencer reads the test pipeline (in
                # the config the step's Runner dumps); the same pipeline
                loader.dataset.setdefault('pipeline',
                                          copy.deepcopy(inner.pipeline))

        # PolyLR & co. without an explicit end span the step's iterations.
        loop = cfg.train_cfg
        total = loop.get('max_iters') or loop.get('max_epochs')
        by_epoch = 'max_epochs' in loop
        scheds = cfg.get('param_scheduler') or []
        for sched in scheds if isinstance(scheds, list) else [scheds]:
            if 'end' not in sched and sched.get('by_epoch', True) == by_epoch:
                sched['end'] = total

        cfg.work_dir = self.step_dir(step)
        name = osp.splitext(osp.basename(self.cfg.filename or 'cisseg'))[0]
        cfg.experiment_name = f'{name}_step{step}_{time.strftime("%Y%m%d_%H%M%S")}'
        if cfg.get('visualizer'):
            cfg.visualizer.pop('name', None)  # see docs: one per Runner
        from mmseg.registry import HOOKS
        add_memory(cfg, step, self.work_dir)  # incremental.memory
        hooks = list(cfg.get('custom_hooks') or [])
        for hook in hooks:
            if getattr(HOOKS.get(hook['type']), 'step_aware', False):
                hook.update(step=step, protocol=proto.to_dict(),
                            work_dir=self.work_dir)
        hooks.append(dict(type='IncrementalStepHook', step=step,
                          protocol=proto.to_dict()))
        cfg.custom_hooks = hooks
        return cfg

    # ---------------------------------------------------------- metrics.json
    def load_metrics(self) -> dict:
        if osp.exists(self.metrics_path):
            with open(self.metrics_path) as f:
                data = json.load(f)
            if data['protocol']['steps'] != self.protocol.to_dict()['steps']:
                raise ValueError(
                    f'{self.metrics_path}: written by a run of protocol '
                    f"{data['protocol']['steps']}, not "
                    f"{self.protocol.to_dict()['steps']}; use another "
                    '--work-dir')
            return data
        proto = self.protocol.to_dict()
        proto['method'] = self.method
        return dict(protocol=proto, steps=[])

    def finished(self, data: dict, step: int) -> Optional[dict]:
        for entry in data['steps']:
            if entry['step'] == step:
                return entry
        return None

    def record(self, data: dict, entry: dict) -> dict:
        data['steps'] = sorted(
            [e for e in data['steps'] if e['step'] != entry['step']] +
            [entry], key=lambda e: e['step'])
        if get_rank() == 0:
            atomic_write_text(self.metrics_path, json.dumps(data, indent=2))
        return data

    def step_entry(self, step: int, metrics: dict, checkpoint: str,
                   train_images: int, seconds: float,
                   extra: Optional[dict] = None) -> dict:
        proto = self.protocol
        names = proto.seen_class_names(step)
        entry = dict(
            step=step, classes=proto.seen_classes(step),
            new_classes=proto.new_classes(step))
        for key in SUMMARY_KEYS:
            entry[key] = metrics.get(key)
        entry['per_class'] = {n: metrics.get(f'IoU.{n}') for n in names}
        entry['checkpoint'] = osp.relpath(checkpoint, self.work_dir)
        entry['train_images'] = train_images
        entry['train_seconds'] = round(seconds, 2)
        entry.update(extra or {})
        return entry

    @staticmethod
    def table(data: dict) -> str:
        t = PrettyTable()
        stored = [k for k in STORAGE_KEYS
                  if any(k in e for e in data['steps'])]
        t.field_names = ['step', 'new classes', 'images'] + \
            list(SUMMARY_KEYS) + stored
        for e in data['steps']:
            new = e['new_classes']
            t.add_row([e['step'],
                       f'{new[0]}..{new[-1]}' if len(new) > 2 else new,
                       e['train_images']] +
                      ['-' if e[k] is None else f'{e[k]:.2f}'
                       for k in SUMMARY_KEYS] +
                      [e.get(k, '-') for k in stored])
        return t.get_string()

    # ------------------------------------------------------------------ run
    def check_checkpoint(self, path: str, step: int) -> None:
        """Refuse a checkpoint that is not of ``step`` of this protocol."""
        info = checkpoint_meta(path).get('cisseg')
        want = self.protocol.classes_per_step(step)
        if info is None:
            raise ValueError(f'{path}: not a cisseg checkpoint (no '
                             f"meta['cisseg']); expected step {step}")
        if info['step'] != step or info['classes_per_step'] != want or \
                info['protocol']['steps'] != self.protocol.to_dict()['steps']:
            raise ValueError(
                f"{path}: checkpoint of step {info['step']} with classes per "
                f"step {info['classes_per_step']}, expected step {step} with "
                f'{want} of protocol {self.protocol.task}')

    def run(self) -> dict:
        from mmengine.runner import Runner
        os.makedirs(self.work_dir, exist_ok=True)
        if get_rank() == 0:  # the others wait for the data
            ensure_synthetic_voc(self.cfg.get('synthetic_data') and
                                 self.cfg.get('data_root'),
                                 **(self.cfg.get('synthetic_data') or {}))
        if is_distributed():
            barrier()
        data = self.load_metrics()
        for step in self.steps:
            done = self.finished(data, step)
            if done is not None and self.resume:
                print_log(f'step {step}: finished, skipped (--resume)',
                          logger='current')
                continue
            prev = None
            if step > 0:
                prev_entry = self.finished(data, step - 1)
                if prev_entry is None:
                    raise ValueError(
                        f'step {step} needs step {step - 1}, which has no '
                        f'entry in {self.metrics_path}: run it first')
                prev = osp.join(self.work_dir, prev_entry['checkpoint'])
                self.check_checkpoint(prev, step - 1)
                data = ensure_memory(self, data, step - 1)
            cfg = self.config_for_step(step, prev)
            resume_from = latest_checkpoint(self.step_dir(step)) \
                if self.resume else None
            if resume_from is not None:
                self.check_checkpoint(resume_from, step)
                cfg.resume, cfg.load_from = True, resume_from
            start = time.time()
            runner = Runner.from_cfg(cfg)
            runner.train()
            if is_distributed():  # rank 0 has saved the last checkpoint
                barrier()
            checkpoint = latest_checkpoint(self.step_dir(step))
            seconds = time.time() - start
            metrics = runner.test()
            extra = self.after_step(runner, step)
            entry = self.step_entry(step, metrics, checkpoint,
                                    len(runner.train_dataloader.dataset),
                                    seconds, extra)
            data = self.record(data, entry)
            if get_rank() == 0:  # the protocol's curves (step_scalars.py)
                add_step_scalars(self.cfg, self.work_dir, entry)
            print_log(f'step {step} done; all steps so far:\n' +
                      self.table(data), logger='current')
            del runner
            gc.collect()
            if is_distributed():
                barrier()
        return data

    def after_step(self, runner, step: int) -> Dict:
        """Extra fields for the step's metrics.json entry (e.g. the size of
        stored prototypes, set by prototype hooks in ``runner``, and the
        evaluation protocol, set by the test metric)."""
        extra = {}
        for hook in runner.hooks + runner.test_evaluator.metrics:
            fields = getattr(hook, 'metrics_fields', None)
            if fields:
                extra.update(fields)
        return extra
