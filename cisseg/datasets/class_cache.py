"""Which classes each training image contains, read once and cached.

Selecting the images of a step needs the classes of every label map. They
are read once per dataset split and written (atomically) as JSON next to the
data (``<data_root>/.cisseg_cache``) or, where that folder is not writable,
under ``~/.cache/cisseg``; later steps and runs read the JSON. Each entry
keeps its label file's size and modification time: a label map rewritten
since (a regenerated or edited dataset) is read again, so its classes and
its value check are never stale. A cache file that does not parse is
rebuilt.
"""
import hashlib
import json
import os
import os.path as osp
from typing import List, Optional, Sequence

import numpy as np
from mmengine.dist import barrier, get_rank, is_distributed
from mmengine.utils import ProgressBar

from cisseg.utils import atomic_write_text
from .protocols import IGNORE_INDEX


def read_label(path: str) -> np.ndarray:
    """Read a label map as mmseg's ``LoadAnnotations`` does (pillow,
    unchanged: palette indices for VOC's palette PNGs)."""
    from PIL import Image
    try:
        with Image.open(path) as img:
            return np.asarray(img)
    except (OSError, ValueError) as e:
        raise FileNotFoundError(f'{path}: cannot read label map ({e})')


def label_classes(path: str, num_classes: int,
                  reduce_zero_label: bool = False) -> List[int]:
    """Sorted class ids present in one label map; checks its values."""
    label = read_label(path)
    if label.ndim != 2:
        raise ValueError(f'{path}: a label map must have one channel, got '
                         f'shape {label.shape}')
    counts = np.bincount(label.ravel().astype(np.int64), minlength=256)
    values = np.flatnonzero(counts)
    if reduce_zero_label:  # mmseg's rule: 0 -> 255, others minus 1
        values = np.array(sorted({255 if v == 0 else (v - 1 if v != 255
                                                       else 255)
                                  for v in values}), dtype=np.int64)
    bad = [int(v) for v in values if v >= num_classes and v != IGNORE_INDEX]
    if bad:
        raise ValueError(f'{path}: label values {bad} are not classes of '
                         f'this dataset (expected 0..{num_classes - 1} or '
                         f'{IGNORE_INDEX})')
    return [int(v) for v in values if v != IGNORE_INDEX]


def _cache_file(cache_dir: str, key_paths: Sequence[str], tag: str,
                num_classes: int, reduce_zero_label: bool) -> str:
    """One file per list of label maps and way of reading them (the class
    count bounds the value check)."""
    key = '\n'.join([f'{num_classes} {int(reduce_zero_label)}', *key_paths])
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    return osp.join(cache_dir, f'classes_{tag}_{digest}.json')


def _signature(path: str) -> Optional[List[int]]:
    """(size, modification time in ns) of a file; None if it is missing."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def default_cache_dir(data_root: str) -> str:
    cache_dir = osp.join(data_root, '.cisseg_cache')
    try:
        os.makedirs(cache_dir, exist_ok=True)
        if os.access(cache_dir, os.W_OK):
            return cache_dir
    except OSError:
        pass
    return osp.join(osp.expanduser('~'), '.cache', 'cisseg')


def image_classes(seg_paths: Sequence[str],
                  num_classes: int,
                  cache_dir: str,
                  tag: str = 'train',
                  reduce_zero_label: bool = False) -> List[List[int]]:
    """The classes of each label map in ``seg_paths``, from the cache.

    Under distributed training rank 0 reads the labels and writes the cache;
    the other ranks wait, then read it. Every rank passes the barrier, cache
    or not: a rank that found the cache written a moment ago by rank 0 must
    not skip the barrier rank 0 waits in.
    """
    rel = [osp.relpath(p, cache_dir) for p in seg_paths]
    path = _cache_file(cache_dir, rel, tag, num_classes, reduce_zero_label)
    signatures = [_signature(p) for p in seg_paths]
    entries = _read(path)
    if not is_distributed():
        cached = _fresh(entries, rel, signatures)
        if cached is not None:
            return cached
    if get_rank() == 0 and _fresh(entries, rel, signatures) is None:
        os.makedirs(cache_dir, exist_ok=True)
        stale = [i for i, r in enumerate(rel)
                 if not _is_fresh(entries.get(r), signatures[i])]
        bar = ProgressBar(len(stale)) if len(stale) > 200 else None
        for i in stale:
            entries[rel[i]] = dict(
                classes=label_classes(seg_paths[i], num_classes,
                                      reduce_zero_label),
                stat=signatures[i])
            if bar is not None:
                bar.update()
        atomic_write_text(path, json.dumps(entries))
    if is_distributed():
        barrier()
        entries = _read(path)
    cached = _fresh(entries, rel, signatures)
    if cached is None:
        raise RuntimeError(f'{path}: class-list cache is missing or stale '
                           'after it was written')
    return cached


def _read(path: str) -> dict:
    """The cache's entries; {} when missing or unreadable (rebuilt)."""
    try:
        with open(path) as f:
            data = json.load(f)
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _is_fresh(entry, signature: Optional[List[int]]) -> bool:
    return (isinstance(entry, dict) and signature is not None
            and entry.get('stat') == signature
            and isinstance(entry.get('classes'), list))


def _fresh(entries: dict, rel: Sequence[str],
           signatures: Sequence[Optional[List[int]]]
           ) -> Optional[List[List[int]]]:
    """The classes of every label map, if each entry matches its file."""
    if not all(_is_fresh(entries.get(r), s) for r, s in zip(rel, signatures)):
        return None
    return [entries[r]['classes'] for r in rel]
