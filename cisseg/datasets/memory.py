"""Exemplar memory: a few training images of past steps replayed later.

After step t the memory keeps ``size`` images chosen from the previous
memory and the images step t trained on, each with the classes it is known
to contain. The file ``step_<t>/memory.json`` lists them (paths relative to
the dataset's ``data_root``, not copies of the images); the training set of
step t+1 is that step's images plus the listed ones.

Rules (``incremental.memory.rule``):

- ``'balanced'`` (the STAR/DKD authors' class-balanced sampling, adapted
  from SSUL): shuffle the candidates and the seen foreground classes once,
  then take classes in turn, each time the first remaining candidate that
  contains the class, until ``size`` images are taken.
- ``'random'``: ``size`` candidates drawn uniformly.

Both draw from ``numpy.random.default_rng([seed, step])``: the same seed
and candidates give the same memory, e.g. when a step is run again on
``--resume``.
"""
import json
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

MEMORY_FILE = 'memory.json'
# What a memory image's label map keeps at a later step t:
# 'step': like the step's own images, only the classes new at step t (old
#     classes are background), the STAR and DKD authors' choice;
# 'seen': every class seen up to step t keeps its label (SSUL's choice).
MEMORY_LABELS = ('step', 'seen')


def memory_file(work_dir: str, step: int) -> str:
    """Where the memory kept after ``step`` is stored."""
    return osp.join(work_dir, f'step_{step}', MEMORY_FILE)


def data_relpath(path: str, data_root: Optional[str]) -> str:
    """``path`` relative to a dataset's ``data_root``, as memory files
    store it."""
    return osp.relpath(path, data_root or '.')


def merge_candidates(*groups: Sequence[dict]) -> List[dict]:
    """One candidate per label map (``seg_map_path``), classes united, in
    order of first appearance (an image of the previous memory may also be
    one of the step's images in the overlapped setting)."""
    merged: Dict[str, dict] = {}
    for group in groups:
        for cand in group:
            key = cand['seg_map_path']
            if key in merged:
                merged[key]['classes'] = sorted(
                    set(merged[key]['classes']) | set(cand['classes']))
            else:
                merged[key] = dict(img_path=cand['img_path'],
                                   seg_map_path=key,
                                   classes=sorted(set(cand['classes'])))
    return list(merged.values())


def balanced_selection(candidates: Sequence[dict], classes: Sequence[int],
                       size: int, rng: np.random.Generator) -> List[dict]:
    """Class-balanced choice of ``size`` candidates (see the module doc).

    A class no remaining candidate contains is skipped; the selection
    stops early when no remaining candidate contains any of ``classes``
    (the authors' loop would not end). Each picked candidate gets
    ``picked_for``, the class it was taken for.
    """
    pool = [candidates[i] for i in rng.permutation(len(candidates))]
    order = [classes[i] for i in rng.permutation(len(classes))]
    picked: List[dict] = []
    while len(picked) < size:
        took = False
        for cls in order:
            hit = next((i for i, c in enumerate(pool)
                        if cls in c['classes']), None)
            if hit is None:
                continue
            picked.append(dict(pool.pop(hit), picked_for=int(cls)))
            took = True
            if len(picked) >= size:
                break
        if not took:
            break
    return picked


def random_selection(candidates: Sequence[dict], classes: Sequence[int],
                     size: int, rng: np.random.Generator) -> List[dict]:
    """``size`` candidates containing any of ``classes``, uniformly."""
    wanted = set(classes)
    pool = [c for c in candidates if wanted & set(c['classes'])]
    order = rng.permutation(len(pool))[:size]
    return [dict(pool[i], picked_for=None) for i in order]


MEMORY_RULES: Dict[str, Callable] = dict(
    balanced=balanced_selection, random=random_selection)


def select_memory(candidates: Sequence[dict], classes: Sequence[int],
                  size: int, rule: str, seed: int, step: int) -> List[dict]:
    """The memory kept after ``step``, sorted by label path."""
    if rule not in MEMORY_RULES:
        raise ValueError(f'incremental.memory.rule: unknown rule {rule!r}, '
                         f'expected one of {sorted(MEMORY_RULES)}')
    rng = np.random.default_rng([int(seed), int(step)])
    picked = MEMORY_RULES[rule](list(candidates), list(classes), int(size),
                                rng)
    return sorted(picked, key=lambda c: c['seg_map_path'])


def memory_bytes(images: Sequence[dict], data_root: str) -> int:
    """Bytes on disk of the memory's image and label files."""
    total = 0
    for entry in images:
        for key in ('img_path', 'seg_map_path'):
            path = osp.join(data_root, entry[key])
            if not osp.isfile(path):
                raise FileNotFoundError(f'{path}: memory file {key} not '
                                        'found')
            total += osp.getsize(path)
    return total


def load_memory(path: str, step: Optional[int] = None,
                protocol_steps: Optional[list] = None) -> dict:
    """Read a memory file; check it was kept after ``step`` of a protocol
    with ``protocol_steps``."""
    if not osp.exists(path):
        raise FileNotFoundError(
            f'{path}: exemplar memory not found; a step with '
            'incremental.memory needs the memory of the previous step of '
            'the same run')
    try:
        with open(path) as f:
            data = json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f'{path}: exemplar memory is not valid JSON ({e})')
    if not isinstance(data, dict) or 'images' not in data:
        raise ValueError(f"{path}: not a memory file (no 'images' list)")
    if step is not None and data.get('step') != step:
        raise ValueError(f"{path}: memory of step {data.get('step')}, "
                         f'expected step {step}')
    if protocol_steps is not None and \
            data.get('protocol') != [list(s) for s in protocol_steps]:
        raise ValueError(f"{path}: memory of protocol {data.get('protocol')}"
                         f', expected {[list(s) for s in protocol_steps]}')
    return data
