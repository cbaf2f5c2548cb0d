"""Drive a whole incremental protocol: one mmengine Runner per step."""
import copy
import glob
import gc
import hashlib
import json
import logging
import os
import os.path as osp
import re
import time
import uuid
from typing import Dict, List, Optional, Sequence

from mmengine.config import Config
from mmengine.dist import barrier, get_rank, is_distributed
from mmengine.logging import print_log
from prettytable import PrettyTable

from cisseg.datasets import build_protocol, ensure_synthetic_voc
from cisseg.utils import (WorkDirLock, atomic_write_text, path_inside,
                          read_json)
from .checkpoint import UnreadableCheckpoint, checkpoint_meta
from .fail_fast import PeerFailureWatch
from .runner_utils import release_runner
from .hooks.exemplar_memory_hook import add_memory, ensure_memory
from .step_scalars import add_step_scalars

METRICS_FILE = 'metrics.json'
SUMMARY_KEYS = ('mIoU_base', 'mIoU_inc', 'mIoU_all', 'hIoU')
# What a step keeps for later steps (shown when a run has them).
STORAGE_KEYS = ('memory_images', 'memory_bytes', 'replay_bytes')

#: the keys of a config's ``incremental`` section
INCREMENTAL_KEYS = ('dataset', 'task', 'setting', 'steps', 'order_seed',
                    'unseen', 'step_overrides', 'method', 'memory')
#: the segmentor each method family trains (``incremental.method`` is a
#: free name, e.g. ``star_basic_m``; one that starts with a family's name
#: must be that family's model)
METHOD_SEGMENTORS = {
    'finetune': 'IncrementalEncoderDecoder',
    'offline': 'IncrementalEncoderDecoder',
    'mib': 'MiBSegmentor',
    'plop': 'PLOPSegmentor',
    'dkd': 'DKDSegmentor',
    'star': 'STARSegmentor',
}
#: keys that mmengine does not read where a user may write them, and where
#: they belong (refused when they disagree with the key that is read)
MISPLACED_KEYS = {
    'max_iters': 'train_cfg.max_iters',
    'max_epochs': 'train_cfg.max_epochs',
    'val_interval': 'train_cfg.val_interval',
}
#: what a run is: two runs that differ here must not share a work dir
IDENTITY_FIELDS = ('method', 'dataset', 'task', 'setting', 'formulation')
#: keys of a step's config outside its identity hash: paths, logging,
#: checkpointing, the machine (launcher, workers) and other steps' overrides
IDENTITY_IGNORED = (
    'work_dir', 'experiment_name', 'load_from', 'resume', 'launcher',
    'data_root', 'synthetic_data', 'custom_imports', 'env_cfg',
    'model_wrapper_cfg', 'sync_bn', 'auto_device', 'model.old_checkpoint',
    'default_hooks.logger', 'default_hooks.checkpoint', 'default_hooks.timer',
    'default_hooks.visualization', 'visualizer', 'vis_backends',
    'log_processor', 'log_level', 'incremental.step_overrides',
    # test-time augmentation (tools/test.py --tta) trains nothing
    'tta_pipeline', 'img_ratios')
IDENTITY_IGNORED_LEAVES = ('data_root', 'work_dir', 'num_workers',
                           'persistent_workers', 'pin_memory', 'memory_file')
#: hooks added for the machine or by the scheduler itself
IDENTITY_IGNORED_HOOKS = ('SyncNormBuffersHook', 'IncrementalStepHook')


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


def step_checkpoints(step_dir: str) -> List[str]:
    """The ``iter_*.pth``/``epoch_*.pth`` of ``step_dir``, newest first."""
    found = []
    for path in glob.glob(osp.join(step_dir, '*_*.pth')):
        m = re.fullmatch(r'(iter|epoch)_(\d+)\.pth', osp.basename(path))
        if m:
            found.append((int(m.group(2)), path))
    return [p for _, p in sorted(found, reverse=True)]


def latest_checkpoint(step_dir: str) -> Optional[str]:
    """The newest ``iter_*.pth``/``epoch_*.pth`` in ``step_dir``."""
    found = step_checkpoints(step_dir)
    return found[0] if found else None


def _flatten(obj, prefix: str, out: dict) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            _flatten(v, f'{prefix}.{k}' if prefix else str(k), out)
    elif isinstance(obj, (list, tuple)) and any(
            isinstance(v, dict) for v in obj):
        for i, v in enumerate(obj):
            _flatten(v, f'{prefix}.{i}', out)
    else:
        out[prefix] = json.loads(json.dumps(obj, default=repr))


def _check_method_name(method, model_type) -> None:
    """Refuse an ``incremental.method`` that names another family's method
    than the config's segmentor (the name labels metrics.json, plots and the
    run's identity)."""
    if method is None:
        return
    if not isinstance(method, str) or not method.strip():
        raise ValueError('incremental.method: expected a name such as '
                         f"'star_basic', got {method!r}")
    family = re.split(r'[_\-]', method.lower(), maxsplit=1)[0]
    want = METHOD_SEGMENTORS.get(family)
    if want is not None and model_type in METHOD_SEGMENTORS.values() \
            and model_type != want:
        names = [f for f, t in METHOD_SEGMENTORS.items() if t == model_type]
        raise ValueError(
            f'incremental.method={method!r} names a {family} run but '
            f'model.type is {model_type} ({want} trains {family}); name the '
            'run after its method: a name that starts with '
            f"{' or '.join(map(repr, names))}")


def _check_loop_args(loop_cfg, step: int) -> None:
    """Refuse ``train_cfg`` keys that the loop mmengine would build does
    not take (e.g. ``max_iter``), naming the step."""
    import inspect

    from mmengine.registry import LOOPS
    from mmengine.runner import EpochBasedTrainLoop, IterBasedTrainLoop
    if not isinstance(loop_cfg, dict):
        return
    if 'type' in loop_cfg:
        loop = loop_cfg['type']
        loop = LOOPS.get(loop) if isinstance(loop, str) else loop
        if not inspect.isclass(loop):
            return  # mmengine names an unknown type itself
    else:
        loop = EpochBasedTrainLoop if loop_cfg.get('by_epoch') \
            else IterBasedTrainLoop
    params = inspect.signature(loop.__init__).parameters
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        return
    known = [n for n in params if n not in ('self', 'runner', 'dataloader')]
    unknown = sorted(set(loop_cfg) - set(known) - {'type', 'by_epoch'})
    if unknown:
        raise ValueError(
            f'train_cfg.{unknown[0]} of step {step}: not an argument of '
            f"{loop.__name__} (expected {', '.join(known)}); check "
            'train_cfg and incremental.step_overrides')
    for key in ('max_iters', 'max_epochs', 'val_begin', 'val_interval'):
        value = loop_cfg.get(key)
        if value is not None and (isinstance(value, bool)
                                  or not isinstance(value, int)):
            raise TypeError(f'train_cfg.{key} of step {step}: expected an '
                            f'integer, got {value!r}')


def _check_optimizer_args(optim_wrapper, step: int) -> None:
    """Refuse a learning rate or weight decay that is not a number (an
    option typo such as ``lr=fast`` failed inside torch without the key)."""
    optimizer = (optim_wrapper or {}).get('optimizer') or {}
    for key in ('lr', 'weight_decay', 'momentum'):
        value = optimizer.get(key)
        if value is not None and (isinstance(value, bool) or
                                  not isinstance(value, (int, float))):
            raise TypeError(f'optim_wrapper.optimizer.{key} of step {step}: '
                            f'expected a number, got {value!r}')


def config_fingerprint(cfg: Config) -> Dict[str, object]:
    """A step's config as ``{'a.b.c': value}``, without the keys that do not
    change what is trained (:data:`IDENTITY_IGNORED`)."""
    data = cfg.to_dict()
    data['custom_hooks'] = [
        h for h in data.get('custom_hooks') or []
        if h.get('type') not in IDENTITY_IGNORED_HOOKS]
    flat: Dict[str, object] = {}
    _flatten(data, '', flat)
    return {
        k: v for k, v in sorted(flat.items())
        if not any(k == p or k.startswith(p + '.') for p in IDENTITY_IGNORED)
        and k.rsplit('.', 1)[-1] not in IDENTITY_IGNORED_LEAVES
    }


def fingerprint_hash(flat: Dict[str, object]) -> str:
    text = json.dumps(flat, sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def identity_diff(have: dict, want: dict, have_cfg: Optional[dict] = None,
                  want_cfg: Optional[dict] = None) -> List[str]:
    """What differs between two run identities, as 'field: a -> b'."""
    out = [f'{k} {have.get(k)!r} -> {want.get(k)!r}'
           for k in IDENTITY_FIELDS + ('seed', )
           if have.get(k) != want.get(k)]
    if have.get('config') != want.get('config'):
        diff = []
        if have_cfg is not None and want_cfg is not None:
            diff = [f'{k} {have_cfg.get(k)!r} -> {want_cfg.get(k)!r}'
                    for k in sorted(set(have_cfg) | set(want_cfg))
                    if have_cfg.get(k) != want_cfg.get(k)]
        if len(diff) > 4:
            diff = diff[:4] + [f'... ({len(diff)} keys differ)']
        out += diff or [f"config hash {have.get('config')} -> "
                        f"{want.get('config')}"]
    return out


class StepScheduler:
    """Run the steps of ``cfg.incremental``'s protocol in one process.

    For each step t: build the step's config (:meth:`config_for_step`),
    train it with an mmengine Runner (starting from step t-1's weights with
    the classifier grown for the new classes), test it on val with the
    classes seen so far, and record the step in ``WORK_DIR/metrics.json``
    (atomic write) with the checkpoint the Runner saved last (the model it
    tested). A step with an entry in metrics.json is finished; with
    ``resume=True`` finished steps are skipped and an unfinished step
    resumes from its newest readable checkpoint, if that checkpoint was
    saved by the same run (:meth:`run_identity`) from the same step t-1
    model. Without ``resume``, a step whose folder holds checkpoints is
    refused unless ``overwrite``.

    Before any step trains: the config's keys, the work dir (lock, earlier
    checkpoints, metrics.json) and every image/label pair of the data are
    checked, so that a mistake ends the run before training is wasted.

    Args:
        cfg (Config): the full config (with an ``incremental`` section).
        steps (str, optional): 'A-B' to run only these steps.
        resume (bool): skip finished steps, resume an unfinished one.
        overwrite (bool): train the steps again, removing their earlier
            checkpoints (and the metrics.json entries of later steps).
    """

    def __init__(self, cfg: Config, steps: Optional[str] = None,
                 resume: bool = False, overwrite: bool = False) -> None:
        if 'incremental' not in cfg:
            raise KeyError('config has no `incremental` section: it is not a '
                           'cisseg incremental config')
        if not cfg.get('work_dir'):
            raise ValueError('work_dir is not set (use --work-dir)')
        if resume and overwrite:
            raise ValueError('--resume continues the steps of a work dir, '
                             '--overwrite trains them again: give one')
        self.cfg = cfg
        self.work_dir = osp.abspath(cfg.work_dir)
        if osp.exists(self.work_dir) and not osp.isdir(self.work_dir):
            raise ValueError(
                f'work_dir {cfg.work_dir}: exists and is not a folder')
        self.resume = resume
        self.overwrite = overwrite
        self.check_config(cfg)
        inc = cfg.incremental
        self.method = inc.get('method', cfg.model.get('type'))
        self.protocol = build_protocol(
            inc.dataset, inc.get('task', 'custom'),
            inc.get('setting', 'overlap'), steps=inc.get('steps'),
            order_seed=inc.get('order_seed'),
            class_names=self._dataset_class_names(),
            unseen=inc.get('unseen', 'background'))
        self._check_step_overrides(inc.get('step_overrides') or {})
        if str(self.method).lower().startswith('offline') and \
                self.protocol.num_steps > 1:
            raise ValueError(
                f"incremental.method={self.method!r} is joint training in one "
                f'step, but incremental.task={self.protocol.task!r} has '
                f'{self.protocol.num_steps} steps; use '
                "incremental.task='offline' (or name the run after its method)")
        self.steps = parse_steps(steps, self.protocol.num_steps)
        self.metrics_path = osp.join(self.work_dir, METRICS_FILE)
        self._file_data_root = self._declared_data_root()

    # --------------------------------------------------------------- config
    @staticmethod
    def check_config(cfg: Config) -> None:
        """Refuse misspelt ``incremental`` keys, keys mmengine does not read
        where they are written, and a setup that cannot record a step."""
        if not isinstance(cfg.incremental, dict):
            raise TypeError(
                'incremental: expected a dict such as dict(dataset=\'voc\', '
                f"task='15-1'), got {cfg.incremental!r}")
        seed = cfg.incremental.get('order_seed')
        if seed is not None and (isinstance(seed, bool)
                                 or not isinstance(seed, int)):
            raise TypeError('incremental.order_seed: expected an integer, '
                            f'got {seed!r}')
        unknown = sorted(set(cfg.incremental) - set(INCREMENTAL_KEYS))
        if unknown:
            raise KeyError(f'incremental.{unknown[0]}: unknown key; the keys '
                           f'of incremental are {", ".join(INCREMENTAL_KEYS)}')
        _check_misplaced(cfg.to_dict(), cfg.to_dict(), '')
        _check_method_name(cfg.incremental.get('method'),
                           cfg.model.get('type'))
        hooks = cfg.get('default_hooks') or {}
        ckpt = hooks.get('checkpoint')
        if not ckpt:
            raise ValueError(
                'default_hooks.checkpoint is not set: every step needs its '
                'last checkpoint (the next step and tools/test.py load it); '
                "set default_hooks.checkpoint=dict(type='SafeCheckpointHook', "
                'by_epoch=False, save_last=True)')
        if not ckpt.get('save_last', True):
            raise ValueError(
                'default_hooks.checkpoint.save_last=False: the step is '
                'recorded with the checkpoint of its last iteration; set it '
                'to True')
        if ckpt.get('out_dir'):
            raise ValueError(
                'default_hooks.checkpoint.out_dir: cisseg keeps the '
                'checkpoints of step t in WORK_DIR/step_<t>; leave it unset')

    def _check_step_overrides(self, overrides: dict) -> None:
        valid = ['base', 'inc'] + [str(t) for t in
                                   range(self.protocol.num_steps)]
        for key, fragment in overrides.items():
            if str(key) not in valid:
                raise KeyError(
                    f'incremental.step_overrides.{key}: unknown key; expected '
                    "'base' (step 0), 'inc' (steps > 0) or a step of "
                    f'0..{self.protocol.num_steps - 1}')
            _check_misplaced(fragment, None,
                             f'incremental.step_overrides.{key}.')

    def _dataset_class_names(self) -> Sequence[str]:
        from mmseg.registry import DATASETS
        inner = self.cfg.train_dataloader.dataset.get('dataset', {})
        cls = DATASETS.get(inner.get('type', ''))
        return cls.METAINFO['classes'] if cls is not None else ()

    def _declared_data_root(self) -> Optional[str]:
        """``data_root`` as the config file itself sets it (before
        ``--cfg-options``): datasets with this root follow the variable."""
        name = self.cfg.filename
        if not name or not osp.isfile(name):
            return None
        return Config.fromfile(name, import_custom_modules=False).get(
            'data_root')

    def dataset_root(self, dataset: dict) -> Optional[str]:
        """The data root a dataset of the config reads.

        The top-level ``data_root`` (as ``--cfg-options data_root=...`` sets
        it) replaces the dataset's own when the dataset has none or has the
        value of the config file's ``data_root`` variable (it was written
        ``data_root=data_root``); a dataset that sets another root of its
        own keeps it.
        """
        top, own = self.cfg.get('data_root'), dataset.get('data_root')
        if top is None or (own is not None and own != top and
                           own != self._file_data_root):
            return own
        return top

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

        for split in ('train', 'val', 'test'):
            loader = cfg.get(f'{split}_dataloader')
            if not loader or loader.dataset.type != 'IncrementalSegDataset':
                continue
            loader.dataset.protocol = proto.to_dict()
            loader.dataset.step = step
            inner = loader.dataset.dataset
            root = self.dataset_root(inner)
            if root is not None:
                inner.data_root = root
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

    # ------------------------------------------------------------- identity
    def run_identity(self, step_cfg: Config) -> dict:
        """What a step's training is: method, dataset, task, setting, head
        formulation, seed and a hash of the step's config without paths
        (:func:`config_fingerprint`). Stored in metrics.json and in every
        checkpoint's ``meta['cisseg']['run']``."""
        proto = self.protocol
        return dict(
            method=self.method, dataset=proto.dataset, task=proto.task,
            setting=proto.setting,
            formulation=step_cfg.model.decode_head.get('formulation'),
            seed=(step_cfg.get('randomness') or {}).get('seed'),
            config=fingerprint_hash(config_fingerprint(step_cfg)))

    def _check_identity(self, where: str, have: Optional[dict], step: int,
                        strict: bool, have_cfg: Optional[dict] = None,
                        step_cfg: Optional[Config] = None) -> List[str]:
        """Refuse ``have`` (a stored identity) if it is not of this run's
        method, dataset, task, setting and formulation; with ``strict``
        also another seed or config. Returns the differences left (seed,
        config) when not strict."""
        if not isinstance(have, dict):
            raise ValueError(
                f'{where}: no run identity (written by an older cisseg); '
                'use another --work-dir')
        # load_from is not part of the identity: any path will do
        step_cfg = step_cfg or self.config_for_step(
            step, 'step_t-1.pth' if step > 0 else None)
        want = self.run_identity(step_cfg)
        want_cfg = config_fingerprint(step_cfg) if have_cfg else None
        coarse = [k for k in IDENTITY_FIELDS if have.get(k) != want.get(k)]
        diff = identity_diff(have, want, have_cfg, want_cfg)
        if coarse:
            raise ValueError(f'{where}: written by another run ('
                             + '; '.join(diff) + '); use another --work-dir')
        if strict and diff:
            raise ValueError(
                f'{where}: --resume with another config than the run that '
                'saved it (' + '; '.join(diff) + '); resume with the same '
                f'config and options, or --overwrite to train step {step} '
                'again')
        return diff

    # ---------------------------------------------------------- metrics.json
    def load_metrics(self) -> dict:
        if not osp.exists(self.metrics_path):
            proto = self.protocol.to_dict()
            proto['method'] = self.method
            return dict(protocol=proto, steps=[])
        data = read_json(self.metrics_path, 'metrics file')
        if not isinstance(data, dict) or not isinstance(
                data.get('protocol'), dict) or not isinstance(
                    data.get('steps'), list):
            raise ValueError(f'{self.metrics_path}: not a cisseg metrics file '
                             "(expected 'protocol' and 'steps')")
        have = data['protocol']
        want = dict(self.protocol.to_dict(), method=self.method)
        if have.get('steps') != want['steps']:
            raise ValueError(
                f'{self.metrics_path}: written by a run of protocol '
                f"{have.get('steps')}, not {want['steps']}; use another "
                '--work-dir')
        diff = [f'{k} {have.get(k)!r} -> {want.get(k)!r}'
                for k in sorted(set(have) | set(want))
                if have.get(k) != want.get(k)]
        if diff:
            raise ValueError(f'{self.metrics_path}: written by another run ('
                             + '; '.join(diff) + '); use another --work-dir')
        for entry in data['steps']:
            if not isinstance(entry, dict) or 'step' not in entry or \
                    not isinstance(entry.get('checkpoint'), str):
                raise ValueError(f'{self.metrics_path}: an entry of steps '
                                 "has no 'step' or 'checkpoint'")
        return data

    def finished(self, data: dict, step: int) -> Optional[dict]:
        for entry in data['steps']:
            if entry['step'] == step:
                return entry
        return None

    def entry_checkpoint(self, entry: dict) -> str:
        """The checkpoint of a metrics.json entry: a path inside the work
        dir (a relative path out of it, or an absolute one, is refused)."""
        return path_inside(self.work_dir, entry['checkpoint'],
                           f"{self.metrics_path}: step {entry['step']}'s "
                           'checkpoint')

    def record(self, data: dict, entry: dict) -> dict:
        later = [e['step'] for e in data['steps'] if e['step'] > entry['step']]
        if later and self.overwrite:
            print_log(f'metrics.json: entries of steps {later} removed: they '
                      f"were trained from the step-{entry['step']} model "
                      'this run replaced', logger='current',
                      level=logging.WARNING)
        data['steps'] = sorted(
            [e for e in data['steps'] if e['step'] != entry['step'] and
             not (self.overwrite and e['step'] > entry['step'])] +
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

    # ----------------------------------------------------------- checkpoints
    def check_checkpoint(self, path: str, step: int, resume: bool = False,
                         parent: Optional[str] = None) -> dict:
        """Refuse a checkpoint that is not of ``step`` of this protocol and
        this run's method, setting and formulation; with ``resume`` also one
        saved with another seed or config, or trained from another step
        t-1 model than ``parent`` (its id). Returns ``meta['cisseg']``."""
        info = checkpoint_meta(path).get('cisseg')
        want = self.protocol.classes_per_step(step)
        if info is None:
            raise ValueError(f'{path}: not a cisseg checkpoint (no '
                             f"meta['cisseg']); expected step {step}")
        if info['step'] != step or info['classes_per_step'] != want:
            raise ValueError(
                f"{path}: checkpoint of step {info['step']} with classes per "
                f"step {info['classes_per_step']}, expected step {step} with "
                f'{want} of protocol {self.protocol.task}')
        if info['protocol']['steps'] != self.protocol.to_dict()['steps']:
            have = info['protocol']['steps']
            mine = self.protocol.to_dict()['steps']
            first = next((t for t, (a, b) in enumerate(zip(have, mine))
                          if a != b), min(len(have), len(mine)))
            raise ValueError(
                f'{path}: checkpoint of step {step} of another class order: '
                f'its step {first} learned classes '
                f"{have[first] if first < len(have) else []}, this "
                f"protocol's {mine[first] if first < len(mine) else []} "
                '(incremental.steps / order_seed)')
        self._check_identity(path, info.get('run'), step, strict=resume,
                             have_cfg=info.get('config'))
        if resume and step > 0 and info.get('parent') != parent:
            raise ValueError(
                f'{path}: trained from another step-{step - 1} model than '
                f'the one {METRICS_FILE} records (step {step - 1} was trained '
                f'again since); --overwrite trains step {step} again')
        return info

    def resume_checkpoint(self, step: int,
                          parent: Optional[str]) -> Optional[str]:
        """The newest readable checkpoint of ``step`` (checked as
        :meth:`check_checkpoint` with ``resume``); an unreadable newest one
        (truncated) falls back to the previous one with a warning."""
        bad = []
        for path in step_checkpoints(self.step_dir(step)):
            try:
                self.check_checkpoint(path, step, resume=True, parent=parent)
            except UnreadableCheckpoint as e:
                bad.append(str(e))
                continue
            if bad:
                print_log(f'{bad[0]}; resuming from the previous checkpoint '
                          f'{path}', logger='current', level=logging.WARNING)
            return path
        if bad:
            raise ValueError(f'{bad[0]}; no earlier checkpoint of step {step} '
                             f'to resume from: remove it, or --overwrite to '
                             f'train step {step} again')
        return None

    def _clear_step(self, step: int) -> None:
        """--overwrite: remove the step's earlier checkpoints (rank 0)."""
        folder = self.step_dir(step)
        names = ['last_checkpoint', 'prototypes.pth']
        paths = step_checkpoints(folder) + [osp.join(folder, n)
                                            for n in names]
        removed = [p for p in paths if osp.isfile(p)]
        if get_rank() == 0:
            for path in removed:
                os.remove(path)
        if removed:
            print_log(f'step {step}: --overwrite removed '
                      f'{[osp.basename(p) for p in removed]}',
                      logger='current', level=logging.WARNING)

    # ------------------------------------------------------------------ run
    def check_work_dir(self, data: dict) -> None:
        """Before any training: refuse steps whose folders hold checkpoints
        of an earlier run (without --resume or --overwrite) and finished
        steps of another run."""
        for step in self.steps:
            done = self.finished(data, step)
            if self.resume and done is not None:
                self._check_finished(done)
                continue
            found = step_checkpoints(self.step_dir(step))
            if found and not self.resume and not self.overwrite:
                raise ValueError(
                    f'{found[0]}: step {step} has checkpoints of an earlier '
                    'run; --resume continues it, --overwrite trains step '
                    f'{step} again (removing them), or use another '
                    '--work-dir')
        first = self.steps[0]
        if first > 0:
            prev = self.finished(data, first - 1)
            if prev is None:
                raise ValueError(
                    f'step {first} needs step {first - 1}, which has no '
                    f'entry in {self.metrics_path}: run it first')
            self._check_finished(prev)

    def _check_finished(self, entry: dict) -> None:
        step = entry['step']
        diff = self._check_identity(
            f"{self.metrics_path}: step {step}", entry.get('run'), step,
            strict=False)
        if diff:
            print_log(f'step {step} (finished, reused) was trained with '
                      'another config: ' + '; '.join(diff),
                      logger='current', level=logging.WARNING)

    def check_step_configs(self) -> None:
        """Build each step's config before any step trains and check its
        training loop's arguments, so that a mistake in
        ``incremental.step_overrides`` ends the run before step 0 trains,
        not after it."""
        for step in self.steps:
            cfg = self.config_for_step(step, 'step_t-1.pth' if step else None)
            _check_loop_args(cfg.get('train_cfg'), step)
            _check_optimizer_args(cfg.get('optim_wrapper'), step)
            if step == 0:
                self._check_step0_load_from(cfg.get('load_from'))

    def _check_step0_load_from(self, path: Optional[str]) -> None:
        """Refuse a cisseg checkpoint as step 0's ``load_from`` when its
        classifier has another class count (mmengine would skip the
        mismatched weights with a warning and train from a new classifier).
        Other checkpoints (ImageNet or mmseg weights) are not checked."""
        if not path or not osp.isfile(str(path)):
            return
        try:
            info = checkpoint_meta(path).get('cisseg')
        except (ValueError, OSError):
            return  # not a cisseg checkpoint; mmengine loads or reports it
        if not isinstance(info, dict) or 'classes_per_step' not in info:
            return
        have = sum(info['classes_per_step'])
        want = sum(self.protocol.classes_per_step(0))
        if have != want:
            raise ValueError(
                f"load_from {path}: cisseg checkpoint of step {info['step']}"
                f' with {have} classes; step 0 of this protocol has {want} '
                '(its classifier would not load)')

    def check_data(self) -> None:
        """Read every label map (values, cached) and every image and label
        size of the datasets before training, naming the file at fault."""
        from mmengine.registry import DefaultScope

        from cisseg.datasets.sample_check import check_dataset
        cfg = self.config_for_step(0)
        seen = set()
        # the transforms are mmseg's (a Runner sets this scope later)
        with DefaultScope.overwrite_default_scope(
                cfg.get('default_scope', 'mmseg')):
            for split in ('train', 'val', 'test'):
                loader = cfg.get(f'{split}_dataloader')
                if not loader or \
                        loader.dataset.type != 'IncrementalSegDataset':
                    continue
                inner = loader.dataset.dataset.to_dict()
                key = json.dumps(inner, sort_keys=True, default=repr)
                if key not in seen:
                    seen.add(key)
                    check_dataset(inner, self.protocol.num_dataset_classes)

    def run(self) -> dict:
        """Run the steps (see the class docstring). Under a launcher, a
        rank that fails ends the other ranks at once
        (:class:`PeerFailureWatch`)."""
        watch = PeerFailureWatch().start()
        lock = None
        try:
            os.makedirs(self.work_dir, exist_ok=True)
            if get_rank() == 0:
                lock = WorkDirLock(self.work_dir)
                lock.acquire()
                if lock.taken_over:
                    print_log(f'{lock.path}: taken over from a run that '
                              'ended without releasing it '
                              f'({lock.taken_over})', logger='current',
                              level=logging.WARNING)
            return self._run()
        except BaseException as e:
            watch.post(e)
            raise
        finally:
            watch.stop()
            if lock is not None:
                lock.release()

    def _run(self) -> dict:
        from mmengine.runner import Runner
        data = self.load_metrics()
        self.check_work_dir(data)
        if get_rank() == 0:  # the others wait for the data
            synthetic = dict(self.cfg.get('synthetic_data') or {})
            if synthetic:
                inner = self.cfg.train_dataloader.dataset.get('dataset', {})
                ensure_synthetic_voc(self.dataset_root(inner), **synthetic)
        if is_distributed():
            barrier()
        if any(self.finished(data, t) is None or not self.resume
               for t in self.steps):  # something to train
            self.check_step_configs()
            self.check_data()
        for step in self.steps:
            done = self.finished(data, step)
            if done is not None and self.resume:
                print_log(f'step {step}: finished, skipped (--resume)',
                          logger='current')
                continue
            prev = parent = None
            if step > 0:
                prev_entry = self.finished(data, step - 1)
                if prev_entry is None:
                    raise ValueError(
                        f'step {step} needs step {step - 1}, which has no '
                        f'entry in {self.metrics_path}: run it first')
                prev = self.entry_checkpoint(prev_entry)
                parent = self.check_checkpoint(prev, step - 1).get('id')
                data = ensure_memory(self, data, step - 1)
            cfg = self.config_for_step(step, prev)
            resume_from = self.resume_checkpoint(step, parent) \
                if self.resume else None
            if self.overwrite:
                self._clear_step(step)
            if resume_from is not None:
                cfg.resume, cfg.load_from = True, resume_from
                run_id = checkpoint_meta(resume_from)['cisseg'].get(
                    'id') or uuid.uuid4().hex
            else:
                run_id = uuid.uuid4().hex
            if is_distributed():  # one id on every rank: rank 0's
                from mmengine.dist import broadcast_object_list
                ids = [run_id]
                broadcast_object_list(ids)
                run_id = ids[0]
            stamp = dict(run=self.run_identity(cfg), id=run_id,
                         parent=parent, config=config_fingerprint(cfg))
            for hook in cfg.custom_hooks:
                if hook['type'] == 'IncrementalStepHook':
                    hook['stamp'] = stamp
            start = time.time()
            runner = Runner.from_cfg(cfg)
            saver = _checkpoint_hook(runner)
            runner.train()
            if is_distributed():  # rank 0 has saved the last checkpoint
                barrier()
            checkpoint = saver.last_ckpt or resume_from
            if checkpoint is None:
                raise RuntimeError(f'step {step}: the Runner saved no '
                                   'checkpoint')
            seconds = time.time() - start
            metrics = runner.test()
            extra = self.after_step(runner, step)
            entry = self.step_entry(step, metrics, checkpoint,
                                    len(runner.train_dataloader.dataset),
                                    seconds, extra)
            entry['run'] = dict(stamp['run'], id=run_id, parent=parent)
            data = self.record(data, entry)
            if get_rank() == 0:  # the protocol's curves (step_scalars.py)
                add_step_scalars(self.cfg, self.work_dir, entry)
            print_log(f'step {step} done; all steps so far:\n' +
                      self.table(data), logger='current')
            release_runner(runner)
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


def _checkpoint_hook(runner):
    """The Runner's CheckpointHook (the config check ensures there is one
    that saves the last iteration)."""
    from mmengine.hooks import CheckpointHook
    for hook in runner.hooks:
        if isinstance(hook, CheckpointHook):
            return hook
    raise ValueError('default_hooks.checkpoint: the Runner has no '
                     'CheckpointHook; every step needs its last checkpoint')


def _check_misplaced(fragment: dict, full: Optional[dict],
                     prefix: str) -> None:
    """Refuse a key of :data:`MISPLACED_KEYS` at the top of ``fragment``
    (a config, or a step override) unless it equals the key that is read
    (a config variable used there)."""
    for key, where in MISPLACED_KEYS.items():
        if key not in fragment:
            continue
        section, _, leaf = where.partition('.')
        read = ((full or {}).get(section) or {}).get(leaf)
        if full is not None and read == fragment[key]:
            continue
        raise KeyError(
            f'{prefix}{key}={fragment[key]!r} is not read at this level; '
            f'set {prefix}{where}'
            + ('' if prefix else f' (or incremental.step_overrides.'
               f'<base|inc|t>.{where})'))
