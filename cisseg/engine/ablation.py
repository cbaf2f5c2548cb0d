"""STAR's component ablation (the papers' PR / BPR / OCFM / SAD table)."""
from collections import OrderedDict
from typing import Dict, List

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
