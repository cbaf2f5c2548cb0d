"""Per-step mIoU curves and comparison tables from ``metrics.json`` files."""
import json
import os.path as osp
from typing import List, Optional, Sequence

KEYS = ('mIoU_base', 'mIoU_inc', 'mIoU_all', 'hIoU')
# What a step stores for later steps: (key, column title).
STORAGE = (('memory_images', 'memory images'), ('memory_bytes', 'memory'),
           ('replay_bytes', 'prototypes'))


def load_run(work_dir: str) -> dict:
    """A run's metrics.json, with its name (method, or the folder name)."""
    path = work_dir if work_dir.endswith('.json') else osp.join(
        work_dir, 'metrics.json')
    if not osp.exists(path):
        raise FileNotFoundError(f'{path}: not found (is {work_dir} a cisseg '
                                'work dir?)')
    with open(path) as f:
        data = json.load(f)
    if 'steps' not in data or 'protocol' not in data:
        raise ValueError(f'{path}: not a cisseg metrics.json (needs '
                         "'protocol' and 'steps')")
    data['name'] = data['protocol'].get('method') or osp.basename(
        osp.normpath(work_dir))
    return data


def protocol_label(run: dict) -> str:
    """'dataset task setting' of a run, e.g. 'voc 15-1 overlap'."""
    p = run['protocol']
    return f"{p['dataset']} {p['task']} {p['setting']}"


def run_key(run: dict) -> tuple:
    """(method name, protocol label): runs with the same key are repeats
    of one experiment (e.g. seeds)."""
    return run['name'], protocol_label(run)


def _fmt(v) -> str:
    return '-' if v is None else f'{v:.1f}'


def format_bytes(n) -> str:
    """'-', '812 B', '3.4 KiB' or '2.1 MiB'."""
    if n is None:
        return '-'
    for unit, size in (('MiB', 2**20), ('KiB', 2**10)):
        if n >= size:
            return f'{n / size:.1f} {unit}'
    return f'{n} B'


def stored_bytes(step: dict):
    """Bytes a step keeps for later steps (memory + prototypes), or None
    when it records neither."""
    vals = [step[k] for k in ('memory_bytes', 'replay_bytes') if k in step]
    return sum(vals) if vals else None


def comparison_table(runs: Sequence[dict]) -> str:
    """Markdown table of the last step of each run (the papers' format:
    base / inc / all / hIoU), plus the base mIoU kept since step 0."""
    lines = ['| run | protocol | steps | base | inc. | all | hIoU | '
             'base kept |', '|---|---|---|---|---|---|---|---|']
    for r in runs:
        last, first = r['steps'][-1], r['steps'][0]
        kept = None
        if first.get('mIoU_base'):
            kept = 100 * last['mIoU_base'] / first['mIoU_base']
        lines.append(
            f"| {r['name']} | {protocol_label(r)} | "
            f"{len(r['steps'])}/{len(r['protocol']['steps'])} | " +
            ' | '.join(_fmt(last.get(k)) for k in KEYS) +
            f" | {_fmt(kept)}{'%' if kept is not None else ''} |")
    return '\n'.join(lines)


def seeds_table(runs: Sequence[dict]) -> str:
    """Markdown table of the last step averaged over runs of the same
    method and protocol (e.g. several seeds): mean and min-max of base /
    inc. / all, with the number of runs."""
    groups = {}
    for r in runs:
        groups.setdefault(run_key(r), []).append(r['steps'][-1])
    lines = ['| run | protocol | runs | base | inc. | all |',
             '|---|---|---|---|---|---|']
    for (name, proto), lasts in groups.items():
        cells = []
        for k in KEYS[:3]:
            vals = [s[k] for s in lasts if s.get(k) is not None]
            cells.append('-' if not vals else
                         f'{sum(vals) / len(vals):.1f} '
                         f'({min(vals):.1f}-{max(vals):.1f})')
        lines.append(f'| {name} | {proto} | {len(lasts)} | ' +
                     ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def steps_table(run: dict) -> str:
    """Markdown table of every step of one run, with what each step
    stores for later steps (exemplar memory, prototypes) when recorded."""
    stored = [(k, t) for k, t in STORAGE
              if any(k in s for s in run['steps'])]
    lines = ['| step | new classes | base | inc. | all | hIoU |' +
             ''.join(f' {t} |' for _, t in stored),
             '|---|---|---|---|---|---|' + '---|' * len(stored)]
    for s in run['steps']:
        new = s['new_classes']
        new = f'{new[0]}-{new[-1]}' if len(new) > 2 else ','.join(
            map(str, new))
        cells = [_fmt(s.get(k)) for k in KEYS] + [
            str(s.get(k, '-')) if k == 'memory_images' else
            format_bytes(s.get(k)) for k, _ in stored]
        lines.append(f"| {s['step']} | {new} | " + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def plot_runs(runs: Sequence[dict], out: str,
              keys: Optional[List[str]] = None) -> str:
    """One PNG with a panel per metric (base / inc / all), a line per run,
    and one of the bytes each step stores (memory + prototypes, log scale)
    when a run records them (:func:`draw_runs`)."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig = draw_runs(runs, keys)
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out


def draw_runs(runs: Sequence[dict], keys: Optional[List[str]] = None):
    """The figure of :func:`plot_runs`; each run keeps one colour in every
    panel (the storage panel leaves out runs that store nothing)."""
    import matplotlib.pyplot as plt
    keys = list(keys or KEYS[:3])
    cycle = plt.rcParams['axes.prop_cycle'].by_key()['color']
    colors = [cycle[i % len(cycle)] for i in range(len(runs))]
    storage = any(stored_bytes(s) is not None for r in runs
                  for s in r['steps'])
    panels = len(keys) + int(storage)
    fig, axes = plt.subplots(1, panels, figsize=(4 * panels, 3.2),
                             squeeze=False)
    if storage:
        ax = axes[0][-1]
        for r, color in zip(runs, colors):
            pts = [(s['step'], stored_bytes(s) / 1024) for s in r['steps']
                   if stored_bytes(s)]
            if pts:
                ax.plot(*zip(*pts), marker='o', label=r['name'], color=color)
        ax.set_yscale('log')
        ax.set_title('stored after the step (KiB)')
        ax.set_xlabel('step')
        ax.grid(alpha=0.3)
    for ax, key in zip(axes[0], keys):
        for r, color in zip(runs, colors):
            pts = [(s['step'], s[key]) for s in r['steps']
                   if s.get(key) is not None]
            if pts:
                ax.plot(*zip(*pts), marker='o', label=r['name'], color=color)
        ax.set_title(key)
        ax.set_xlabel('step')
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel('IoU (%)')
    axes[0][len(keys) - 1].legend(fontsize=8)
    p = runs[0]['protocol'] if runs else {}
    fig.suptitle(f"{p.get('dataset', '')} {p.get('task', '')} "
                 f"{p.get('setting', '')}")
    fig.tight_layout()
    return fig
