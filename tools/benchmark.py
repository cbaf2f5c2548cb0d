"""Speed, memory and storage of the incremental methods, on this machine.

    python tools/benchmark.py [--model deeplabv3-r101|r18-tiny|CONFIG]
        [--crop 256] [--batch 2] [--iters 10] [--warmup 2]
        [--methods finetune mib star-basic star-lite dkd plop]
        [--device cpu|cuda]
        [--threads N] [--task 15-1] [--repeat 1] [--out results.json]

A benchmark, not a test. For each method, at step 1 of VOC ``--task``
(overlapped) with the same model, crop and batch: training iterations per
second, peak memory, their ratios to fine-tuning, the prototype pass (the
method's hooks before and after training: STAR-Basic's counting pass and
prototype pass, STAR-Lite's derivation, PLOP's entropy-threshold pass) as a
share of one training epoch, evaluation images per second and the bytes
the method stores per step besides the checkpoint (STAR-Basic's
``prototypes.pth``).

The step-1 model starts from a step-0 model of random weights, which is
also its frozen old model; the data are random images with random labels
(the step's new classes in rectangles), ``--batch * --iters`` of them: one
epoch is ``--iters`` iterations. The step-0 model and its stored
prototypes are made first in this process; each method is then measured in
a fresh subprocess, so that its peak memory is its own (CPU: growth of the
peak resident set size, ``ru_maxrss``, from after the data are made to
after training; CUDA: ``torch.cuda.max_memory_allocated``). ``--repeat N``
measures the methods N times in turn (round robin) and reports, per
method, the round of median speed and the median over rounds of its time
relative to fine-tuning's in the same round: on a shared machine, whose
speed drifts between processes, a paired ratio moves less than two times
measured apart.
"""
import argparse
import json
import math
import os
import os.path as osp
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
MODELS_DIR = osp.join(REPO, 'configs', '_base_', 'models')
MODEL_FILES = {
    'deeplabv3-r101': osp.join(MODELS_DIR, 'deeplabv3_r101-d16.py'),
    'r18-tiny': osp.join(MODELS_DIR, 'deeplabv3_r18-tiny.py'),
}
# method -> its demo config (the method over the tiny model, shapes data)
METHOD_FILES = {
    m: osp.join(REPO, 'configs', 'demo', f'{m}_shapes.py')
    for m in ('finetune', 'mib', 'star-basic', 'star-lite', 'dkd', 'plop')
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Benchmark fine-tuning, MiB and STAR at a step t > 0')
    parser.add_argument(
        '--model', default='deeplabv3-r101',
        help=f'one of {sorted(MODEL_FILES)} or a model config file')
    parser.add_argument('--crop', type=int, default=256,
                        help='square crop side (pixels)')
    parser.add_argument('--batch', type=int, default=2, help='batch size')
    parser.add_argument('--iters', type=int, default=10,
                        help='timed training iterations (= one epoch)')
    parser.add_argument('--warmup', type=int, default=2,
                        help='untimed training iterations first')
    parser.add_argument(
        '--methods', nargs='+', default=None,
        help='methods to run (default: all with a method file among '
        f'{list(METHOD_FILES)}); fine-tuning is the reference')
    parser.add_argument('--task', default='15-1',
                        help='VOC task; step 1 of it is measured')
    parser.add_argument('--device', default=None,
                        help="'cpu' or 'cuda' (default: cuda if available)")
    parser.add_argument('--threads', type=int, default=None,
                        help='torch CPU threads (default: torch\'s)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--amp', action='store_true',
        help='train with AmpOptimWrapper (fp16 autocast, dynamic loss scale)')
    parser.add_argument(
        '--cudnn-benchmark', action='store_true',
        help="cuDNN autotuning on a GPU (default: off, as the configs' "
        'env_cfg.cudnn_benchmark and the authors\' trainer)')
    parser.add_argument(
        '--epoch-images', type=int, default=None,
        help='images of one real epoch of the step (default: batch x '
        'iters), e.g. 487 for VOC 15-1 step 1 (overlapped): the step hooks '
        'pass over that many images and "pass / epoch" divides by '
        'ceil(images / batch) iterations')
    parser.add_argument(
        '--profile', type=int, default=0, metavar='N',
        help='also profile N training iterations per method and STAR-Basic\'s'
        ' counting pass (torch.profiler; top operators written next to '
        '--out: <out>.<method>.profile.txt, .pass-profile.txt)')
    parser.add_argument(
        '--repeat', type=int, default=1, metavar='N',
        help='measure every method N times, in turn; report medians (an '
        'odd N: the median is one of the rounds)')
    parser.add_argument('--work-dir', default=None,
                        help='where step-0 files go (default: a temp dir)')
    parser.add_argument('--out', default=None,
                        help='also write the results as JSON here')
    parser.add_argument('--worker', default=None, help=argparse.SUPPRESS)
    parser.add_argument('--result', default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def method_file(method: str) -> str:
    return METHOD_FILES[method]


def model_file(model: str) -> str:
    path = MODEL_FILES.get(model, model)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'--model {model}: {path} not found (expected one of '
            f'{sorted(MODEL_FILES)} or a model config file)')
    return path


# ----------------------------------------------------------------- config
def build_config(args, method: str, work_dir: str):
    """The method's demo config on the chosen model (its backbone, data
    preprocessor and decode head; the method's head formulation and loss),
    random weights (no pretrained download), fitted to the device."""
    from mmengine.config import Config

    from cisseg.engine import load_config
    cfg = load_config(method_file(method), {
        'work_dir': work_dir, 'incremental.task': args.task,
        'incremental.setting': 'overlap'})
    arch = Config.fromfile(model_file(args.model)).model.to_dict()
    model = cfg.model.to_dict()
    # the backbone outputs the method reads (PLOP's POD: every stage)
    out_indices = model['backbone']['out_indices']
    in_index = model['decode_head']['in_index']
    for key in ('data_preprocessor', 'backbone', 'neck'):
        model.pop(key, None)
        if key in arch:
            model[key] = arch[key]
    head = arch['decode_head']
    head.update({k: v for k, v in model['decode_head'].items()
                 if k in ('formulation', 'loss_decode')})
    head['in_index'] = in_index
    model['decode_head'] = head
    model['backbone']['out_indices'] = out_indices
    model['backbone'].pop('init_cfg', None)  # random weights, no download
    model.pop('pretrained', None)
    cfg.model = replace_syncbn(model)  # one process: plain BN
    return cfg


def replace_syncbn(obj):
    if isinstance(obj, dict):
        return {k: 'BN' if k == 'type' and v == 'SyncBN' else
                replace_syncbn(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(replace_syncbn(v) for v in obj)
    return obj


# ------------------------------------------------------------------- data
class RandomSegData:
    """Random images and labels, packed as mmseg's pipeline packs them.

    Each label is background with one to three rectangles of classes drawn
    from ``classes`` and a 255 border of 2 pixels.

    Args:
        num (int): images.
        size (int): square side.
        classes (list[int]): train ids of the objects.
        seed (int): numpy seed.
    """

    def __init__(self, num: int, size: int, classes, seed: int = 0) -> None:
        import numpy as np
        from mmseg.datasets.transforms import PackSegInputs
        rng = np.random.RandomState(seed)
        pack = PackSegInputs()
        self.items = []
        for _ in range(num):
            img = rng.randint(0, 256, (size, size, 3), dtype=np.uint8)
            label = np.zeros((size, size), np.uint8)
            for _ in range(rng.randint(1, 4)):
                y0, x0 = rng.randint(0, size // 2, 2)
                h, w = rng.randint(size // 4, size // 2 + 1, 2)
                label[y0:y0 + h, x0:x0 + w] = rng.choice(classes)
            label[:2], label[-2:], label[:, :2], label[:, -2:] = (255, ) * 4
            self.items.append(pack(dict(
                img=img, gt_seg_map=label, img_shape=(size, size),
                ori_shape=(size, size), pad_shape=(size, size),
                scale_factor=(1.0, 1.0), flip=False, flip_direction=None,
                reduce_zero_label=False)))

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i: int) -> dict:
        return self.items[i]


def fake_runner(model, data, batch: int, work_dir: str, hooks=(),
                pin_memory: bool = False):
    """What the step hooks use of a Runner."""
    from types import SimpleNamespace

    from mmengine.dataset import pseudo_collate
    from torch.utils.data import DataLoader
    loader = DataLoader(data, batch_size=batch, collate_fn=pseudo_collate,
                        pin_memory=pin_memory)
    return SimpleNamespace(model=model, train_dataloader=loader, iter=0,
                           max_iters=0, hooks=list(hooks),
                           work_dir=work_dir)


def build_hooks(cfg):
    from mmengine.registry import HOOKS
    from mmengine.runner import get_priority
    hooks = [HOOKS.build(dict(h)) for h in cfg.get('custom_hooks') or []]
    return sorted(hooks, key=lambda h: get_priority(h.priority))


def build_model(cfg, device: str):
    from mmseg.registry import MODELS
    model = MODELS.build(cfg)
    model.init_weights()
    return model.to(device)


def sync(device: str) -> None:
    import torch
    if device.startswith('cuda'):
        torch.cuda.synchronize()


# ---------------------------------------------------------------- prepare
def prepare(args, method: str, work_dir: str) -> str:
    """Step-0 model of random weights (checkpoint stamped as cisseg's
    step hook does) and the step-0 hooks' files (STAR-Basic's
    prototypes). Returns the checkpoint path."""
    import torch
    from mmengine.runner import save_checkpoint

    from cisseg.engine import StepScheduler
    cfg = build_config(args, method, work_dir)
    sched = StepScheduler(cfg)
    cfg0 = sched.config_for_step(0)
    torch.manual_seed(args.seed)
    model = build_model(cfg0.model, args.device)
    head = model.decode_head
    path = osp.join(work_dir, 'step_0', 'iter_0.pth')
    os.makedirs(osp.dirname(path), exist_ok=True)
    save_checkpoint(dict(
        state_dict={k: v.cpu() for k, v in model.state_dict().items()},
        meta=dict(cisseg=dict(
            step=0, protocol=sched.protocol.to_dict(),
            classes_per_step=list(head.classes_per_step),
            formulation=head.formulation))), path)
    old = list(range(1, sched.protocol.num_seen(0)))
    data = RandomSegData(args.batch * args.iters, args.crop, old, args.seed)
    runner = fake_runner(model, data, args.batch, sched.work_dir)
    for hook in build_hooks(cfg0):
        if type(hook).__name__ != 'IncrementalStepHook':
            hook.after_train(runner)
    return path


# ---------------------------------------------------------------- measure
def rss_mb() -> float:
    """Peak resident set size of this process so far (MiB; Linux: KiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == 'darwin' else peak / 1024


def measure(args, method: str, work_dir: str) -> dict:
    """Train ``--warmup + --iters`` iterations of step 1, run the method's
    hooks, evaluate; in a fresh process."""
    import torch
    from mmengine.dataset import pseudo_collate
    from mmengine.optim import build_optim_wrapper
    from mmengine.runner import load_checkpoint

    from cisseg.engine import StepScheduler
    cuda = args.device.startswith('cuda')
    cfg = build_config(args, method, work_dir)
    sched = StepScheduler(cfg)
    step0 = osp.join(work_dir, 'step_0', 'iter_0.pth')
    cfg1 = sched.config_for_step(1, load_from=step0)
    new = list(range(sched.protocol.num_seen(0), sched.protocol.num_seen(1)))
    data = RandomSegData(args.batch * args.iters, args.crop, new,
                         args.seed + 1)
    # what the step hooks pass over: one real epoch of the step
    epoch_data = RandomSegData(args.epoch_images, args.crop, new,
                               args.seed + 2) if args.epoch_images else data
    epoch_iters = math.ceil(len(epoch_data) / args.batch)
    batches = [pseudo_collate([data[j % len(data)]
                               for j in range(i * args.batch,
                                              (i + 1) * args.batch)])
               for i in range(args.iters)]
    if cuda:
        # as the paper configs' loaders (pin_memory=True) hand them over
        from torch.utils.data._utils.pin_memory import pin_memory
        batches = [pin_memory(b) for b in batches]
        torch.backends.cudnn.benchmark = args.cudnn_benchmark
        torch.cuda.reset_peak_memory_stats()
    base_mb = rss_mb()

    torch.manual_seed(args.seed)
    model = build_model(cfg1.model, args.device)  # loads the old model
    load_checkpoint(model, step0, map_location='cpu', strict=False,
                    logger='silent')
    if args.amp:
        cfg1.optim_wrapper.type = 'AmpOptimWrapper'
        cfg1.optim_wrapper.loss_scale = 'dynamic'
    optim_wrapper = build_optim_wrapper(model, cfg1.optim_wrapper)
    hooks = build_hooks(cfg1)
    runner = fake_runner(model, epoch_data, args.batch, sched.work_dir,
                         hooks, pin_memory=cuda)

    def call_hooks(name: str) -> float:
        """Call ``name`` on every hook; seconds taken."""
        sync(args.device)
        start = time.perf_counter()
        for hook in hooks:
            getattr(hook, name)(runner)
        sync(args.device)
        return time.perf_counter() - start

    def train_iter(it: int, batch_idx: int, batch) -> None:
        # as a Runner: before_train_iter hooks see the iteration (STAR-Basic
        # collects its prototype statistics during the last epoch)
        runner.iter = it
        for hook in hooks:
            hook.before_train_iter(runner, batch_idx)
        model.train_step(batch, optim_wrapper)

    call_hooks('before_run')
    if getattr(model, 'old_model', None) is not None:
        # a run reaches step t > 0 with its kernels loaded (and cuDNN's
        # choices made) by step t - 1: a cold start is not the pass's cost
        with torch.no_grad():
            model.old_forward(
                model.data_preprocessor(batches[0], False)['inputs'])
    pass_before = call_hooks('before_train')

    model.train()
    # the timed iterations open the last epoch (STAR-Basic collects its
    # prototype statistics there)
    runner.max_iters = args.warmup + epoch_iters
    for i in range(args.warmup):
        train_iter(i, i, batches[i % len(batches)])
    sync(args.device)
    start = time.perf_counter()
    for j, batch in enumerate(batches):
        train_iter(args.warmup + j, j, batch)
    sync(args.device)
    train_s = time.perf_counter() - start
    peak_mb = torch.cuda.max_memory_allocated() / 2**20 if cuda \
        else rss_mb() - base_mb

    runner.iter = runner.max_iters
    pass_after = call_hooks('after_train')

    old_s = 0.0  # the frozen old model's forward alone, per iteration
    if getattr(model, 'old_model', None) is not None:
        with torch.no_grad():
            inputs = [model.data_preprocessor(b, True)['inputs']
                      for b in batches]
            model.old_forward(inputs[0])
            sync(args.device)
            start = time.perf_counter()
            for x in inputs:
                model.old_forward(x)
            sync(args.device)
            old_s = (time.perf_counter() - start) / len(inputs)
    if args.profile:
        profile_iterations(args, method, model, optim_wrapper, batches)
        profile_counting_pass(args, method, hooks, runner)

    model.eval()
    with torch.no_grad():
        model.test_step(batches[0])
        sync(args.device)
        start = time.perf_counter()
        for batch in batches:
            model.test_step(batch)
        sync(args.device)
    eval_s = time.perf_counter() - start

    stored = sum((getattr(h, 'metrics_fields', None) or {}).get(
        'replay_bytes', 0) for h in hooks)
    replay = getattr(model, 'replay_per_iter', None) or {}
    return dict(
        method=method, iter_s=train_s / args.iters,
        iters_per_s=args.iters / train_s, peak_mb=peak_mb,
        old_forward_s=old_s, amp=bool(args.amp),
        pass_s=pass_before + pass_after, pass_before_s=pass_before,
        pass_after_s=pass_after, epoch_iters=epoch_iters,
        pass_share=(pass_before + pass_after) / (
            train_s / args.iters * epoch_iters),
        eval_images_per_s=args.iters * args.batch / eval_s,
        stored_bytes=int(stored), replay_per_iter=int(sum(replay.values())),
        checkpoint_bytes=os.path.getsize(step0))


def profile_iterations(args, method: str, model, optim_wrapper,
                       batches) -> None:
    """Top operators of ``--profile`` training iterations (self time),
    written to ``<--out>.<method>.profile.txt``."""
    with profiler(args) as prof:
        for i in range(args.profile):
            model.train_step(batches[i % len(batches)], optim_wrapper)
        sync(args.device)
    write_profile(args, method, 'profile', prof,
                  f'{args.profile} training iterations of {method}')


def profile_counting_pass(args, method: str, hooks, runner) -> None:
    """Top operators of STAR-Basic's counting pass (the old model over the
    step's images before training: data, preprocessing, forward, full-
    resolution prediction, counts), written to
    ``<--out>.<method>.pass-profile.txt``; methods without it: nothing."""
    from cisseg.engine.hooks import PrototypeReplayHook
    hook = next((h for h in hooks if isinstance(h, PrototypeReplayHook)),
                None)
    if hook is None or hook.step == 0:
        return
    with profiler(args) as prof:
        start = time.perf_counter()
        hook.before_train(runner)
        sync(args.device)
        wall = time.perf_counter() - start
    data_us = sum(e.cpu_time_total for e in prof.key_averages()
                  if e.key.startswith('enumerate(DataLoader)'))
    write_profile(args, method, 'pass-profile', prof,
                  f'counting pass of {method}: '
                  f'{len(runner.train_dataloader)} batches in {wall:.3f} s '
                  f'(under the profiler), waiting for the loader '
                  f'{data_us / 1e6:.3f} s')


def profiler(args):
    """torch.profiler over the host, and the GPU when measuring on one."""
    from torch.profiler import ProfilerActivity, profile
    activities = [ProfilerActivity.CPU]
    if args.device.startswith('cuda'):
        activities.append(ProfilerActivity.CUDA)
    return profile(activities=activities)


def write_profile(args, method: str, kind: str, prof, title: str) -> None:
    """The 25 operators of most self time (device time on a GPU), then the
    15 of most total time."""
    dev = 'cuda' if args.device.startswith('cuda') else 'cpu'
    events = prof.key_averages()
    text = events.table(sort_by=f'self_{dev}_time_total', row_limit=25) + \
        '\n' + events.table(sort_by=f'{dev}_time_total', row_limit=15)
    out = (args.out or osp.join(args.work_dir, 'benchmark.json'))
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(f'{osp.splitext(out)[0]}.{method}.{kind}.txt', 'w') as f:
        f.write(f'{title}\n{text}')


# ------------------------------------------------------------------ table
def table(results, args, info: dict) -> str:
    ref = {r['method']: r for r in results}.get('finetune')
    lines = [
        f"Model {args.model}, crop {args.crop}, batch {args.batch}, "
        f"{args.iters} timed iterations after {args.warmup} warm-up, step 1 "
        f"of VOC {args.task} (overlapped), "
        f"{'AMP (fp16)' if args.amp else 'fp32'}"
        f"{cudnn_note(args)}, an epoch of "
        f"{results[0]['epoch_iters']} iterations; {info['device']}, torch "
        f"{info['torch']}, {info['threads']} threads. Memory: "
        f"{info['memory']}.", '',
        '| method | train it/s | s/iter | x FT time | old forward (s) | '
        'peak memory (MiB) | x FT memory | prototype pass (s) | pass / epoch '
        '| replayed features / iter | eval images/s | stored bytes / step |',
        '|---|---|---|---|---|---|---|---|---|---|---|---|'
    ]
    for r in results:
        t = f"{r['x_ft']:.2f}" if ref else '-'
        m = f"{r['peak_mb'] / ref['peak_mb']:.2f}" if ref and \
            ref['peak_mb'] > 0 else '-'
        lines.append(
            f"| {r['method']} | {r['iters_per_s']:.3f} | {r['iter_s']:.3f} "
            f"| {t} | {r['old_forward_s']:.3f} | {r['peak_mb']:.0f} | {m} | "
            f"{r['pass_s']:.2f} | "
            f"{r['pass_share']:.2f} | {r['replay_per_iter']} | "
            f"{r['eval_images_per_s']:.2f} | {r['stored_bytes']} |")
    rounds = results[0].get('iter_s_rounds', [])
    if len(rounds) > 1:
        lines += ['', f'{len(rounds)} rounds; s/iter of each (the table: '
                  'the median round; x FT time: the median of the rounds\' '
                  'ratios): ' + '; '.join(
                      r['method'] + ' ' + ', '.join(
                          f'{t:.3f}' for t in r['iter_s_rounds'])
                      for r in results)]
    lines += ['', f"Checkpoint (weights only) of step 0: "
              f"{results[0]['checkpoint_bytes'] / 2**20:.1f} MiB for every "
              'method.']
    return '\n'.join(lines)


def cudnn_note(args) -> str:
    if not args.device.startswith('cuda'):
        return ''
    return ', cuDNN autotuning ' + ('on' if args.cudnn_benchmark else 'off')


def machine_info(device: str) -> dict:
    import torch
    if device.startswith('cuda'):
        name = torch.cuda.get_device_name()
        memory = 'torch.cuda.max_memory_allocated (whole step)'
    else:
        name = platform.processor() or platform.machine()
        try:
            with open('/proc/cpuinfo') as f:
                for line in f:
                    if line.startswith('model name'):
                        name = line.split(':', 1)[1].strip()
                        break
        except OSError:
            pass
        name = f'CPU {name} ({os.cpu_count()} cores)'
        memory = ('growth of the peak RSS (ru_maxrss) over the data-only '
                  'process: models, optimizer state, activations')
    return dict(device=name, torch=torch.__version__,
                threads=torch.get_num_threads(), memory=memory)


def main(argv=None) -> int:
    args = parse_args(argv)
    sys.path.insert(0, REPO)
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.device is None:
        args.device = 'cuda' if torch.cuda.is_available() else 'cpu'
    if args.repeat < 1:
        raise ValueError(f'--repeat: expected a number of rounds >= 1, got '
                         f'{args.repeat}')
    if args.amp and not args.device.startswith('cuda'):
        raise ValueError('--amp: mmengine\'s AmpOptimWrapper needs a GPU '
                         f'(--device {args.device})')
    import cisseg  # noqa: F401  (registers modules)
    from mmengine.logging import MMLogger
    from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=True)
    # the 'current' logger: warnings only (init_weights reports each tensor)
    MMLogger.get_instance('cisseg_benchmark', log_level='WARNING')

    if args.worker:
        result = measure(args, args.worker,
                         osp.join(args.work_dir, args.worker))
        with open(args.result, 'w') as f:
            json.dump(result, f)
        return 0

    methods = args.methods or [m for m in METHOD_FILES
                               if osp.isfile(method_file(m))]
    unknown = [m for m in methods if m not in METHOD_FILES]
    if unknown:
        raise ValueError(f'--methods: unknown {unknown}, expected some of '
                         f'{list(METHOD_FILES)}')
    model_file(args.model)
    work_dir = args.work_dir or tempfile.mkdtemp(prefix='cisseg_bench_')
    try:
        results = run_methods(args, methods, work_dir)
    finally:
        if args.work_dir is None:  # a temp dir (checkpoints of the model)
            shutil.rmtree(work_dir, ignore_errors=True)
    info = machine_info(args.device)
    print(table(results, args, info))
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(dict(args=vars(args), machine=info, results=results),
                      f, indent=2)
    return 0


def combine_rounds(rounds: list) -> list:
    """Results of ``--repeat`` rounds (each a list of per-method results in
    the same order) as one list: per method, the round of median
    ``iter_s`` (the lower median for an even count), with ``iter_s_rounds``
    (every round's time) and ``x_ft``, the median over rounds of the
    method's ``iter_s`` divided by fine-tuning's of the same round (1.0
    for fine-tuning; absent without fine-tuning)."""
    import statistics
    refs = [next((m for m in r if m['method'] == 'finetune'), None)
            for r in rounds]
    out = []
    for i in range(len(rounds[0])):
        runs = [r[i] for r in rounds]
        times = [r['iter_s'] for r in runs]
        median = statistics.median_low(times)
        pick = dict(runs[times.index(median)], iter_s_rounds=times)
        if all(refs):
            pick['x_ft'] = statistics.median(
                run['iter_s'] / ref['iter_s'] for run, ref in zip(runs, refs))
        out.append(pick)
    return out


def run_methods(args, methods, work_dir: str) -> list:
    """Prepare step 0 for each method, then measure the methods, each in a
    fresh subprocess, ``--repeat`` times in turn."""
    for method in methods:
        method_dir = osp.join(work_dir, method)
        os.makedirs(method_dir, exist_ok=True)
        print(f'[benchmark] {method}: step-0 model and files', flush=True)
        prepare(args, method, method_dir)
    rounds = []
    for r in range(args.repeat):
        # the profile (a file per method) is taken in the first round only
        rounds.append([measure_in_subprocess(args, method, work_dir,
                                             args.profile if r == 0 else 0)
                       for method in methods])
        if args.repeat > 1:
            print(f'[benchmark] round {r + 1}/{args.repeat}: ' + ', '.join(
                f"{m['method']} {m['iter_s']:.3f} s/iter"
                for m in rounds[-1]), flush=True)
    return combine_rounds(rounds)


def measure_in_subprocess(args, method: str, work_dir: str,
                          profile: int) -> dict:
    """One method measured by a fresh process of this script, with
    ``profile`` profiled iterations after the timed ones."""
    method_dir = osp.join(work_dir, method)
    print(f'[benchmark] {method}: measuring in a fresh process',
          flush=True)
    result_file = osp.join(method_dir, 'result.json')
    cmd = [sys.executable, osp.abspath(__file__), '--worker', method,
           '--result', result_file, '--work-dir', work_dir,
           '--model', args.model, '--crop', str(args.crop),
           '--batch', str(args.batch), '--iters', str(args.iters),
           '--warmup', str(args.warmup), '--task', args.task,
           '--device', args.device, '--seed', str(args.seed),
           '--profile', str(profile)]
    if args.out:
        cmd += ['--out', args.out]
    if args.amp:
        cmd.append('--amp')
    if args.epoch_images:
        cmd += ['--epoch-images', str(args.epoch_images)]
    if args.threads:
        cmd += ['--threads', str(args.threads)]
    if args.cudnn_benchmark:
        cmd.append('--cudnn-benchmark')
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout[-3000:] + proc.stderr[-3000:])
        raise RuntimeError(f'{method}: the measuring process failed')
    with open(result_file) as f:
        return json.load(f)


if __name__ == '__main__':
    sys.exit(main())
