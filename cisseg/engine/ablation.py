"""STAR's component ablation (the papers' PR / BPR / OCFM / SAD table)."""
import json
import os
import os.path as osp
import shutil
from collections import OrderedDict
from typing import Dict, List

from cisseg.utils import atomic_write_text

# Variant -> --cfg-options that switch one component off.
ABLATION_PRESETS = OrderedDict([
    ('full', []),
    ('no_pr', ['model.prototype_replay=False']),
    ('no_bpr', ['model.background_repetition=False']),
    ('no_ocfm', ['model.ocfm_loss=None']),
    ('no_sad', ['model.sad_loss=None']),
])
COMPONENTS = ('PR', 'BPR', 'OCFM', 'SAD')


def components(variant: str) -> Dict[str, bool]:
    """Which components a preset keeps on."""
    off = {'no_pr': 'PR', 'no_bpr': 'BPR', 'no_ocfm': 'OCFM',
           'no_sad': 'SAD'}.get(variant)
    return {c: c != off for c in COMPONENTS}


def ablation_table(results: Dict[str, dict]) -> str:
    """Markdown table of the last step of each variant's metrics.json, with
    each component's contribution (full minus the variant without it)."""
    lines = ['| variant | ' + ' | '.join(COMPONENTS) +
             ' | base | inc. | all | Δall vs full |',
             '|---|' + '---|' * (len(COMPONENTS) + 4)]
    full = results.get('full')
    full_all = full['steps'][-1]['mIoU_all'] if full else None

    def fmt(v):
        return '-' if v is None else f'{v:.1f}'

    for name, data in results.items():
        last = data['steps'][-1]
        on = components(name)
        delta = None if full_all is None or name == 'full' else \
            last['mIoU_all'] - full_all
        lines.append(f'| {name} | ' +
                     ' | '.join('✓' if on[c] else '–' for c in COMPONENTS) +
                     f" | {fmt(last['mIoU_base'])} | {fmt(last['mIoU_inc'])}"
                     f" | {fmt(last['mIoU_all'])} | "
                     f"{'' if delta is None else f'{delta:+.1f}'} |")
    return '\n'.join(lines)


def parse_variants(names: List[str]) -> List[str]:
    unknown = [n for n in names if n not in ABLATION_PRESETS]
    if unknown:
        raise ValueError(f'--variants: unknown {unknown}, expected some of '
                         f'{list(ABLATION_PRESETS)}')
    return names


def reuse_step0(full_dir: str, work_dir: str) -> bool:
    """Start a variant from the full run's finished step 0 (the components
    act from step 1 on): copy ``step_0/`` and its metrics.json entry.
    Does nothing if the variant has a metrics.json already or the full run
    has no step 0. Returns whether it copied."""
    src = osp.join(full_dir, 'metrics.json')
    if osp.exists(osp.join(work_dir, 'metrics.json')) or not osp.exists(src):
        return False
    with open(src) as f:
        data = json.load(f)
    step0 = [e for e in data['steps'] if e['step'] == 0]
    if not step0:
        return False
    os.makedirs(work_dir, exist_ok=True)
    shutil.copytree(osp.join(full_dir, 'step_0'),
                    osp.join(work_dir, 'step_0'), dirs_exist_ok=True)
    data['steps'] = step0
    atomic_write_text(osp.join(work_dir, 'metrics.json'),
                      json.dumps(data, indent=2))
    return True
