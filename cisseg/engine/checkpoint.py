"""Checkpoint loading and saving fixes, applied once on ``import cisseg``.

1. torch >= 2.6 loads with ``weights_only=True`` by default, which cannot
   read mmengine checkpoints (they pickle a ``HistoryBuffer``): ``load_from``,
   ``resume`` and ``init_model`` fail. cisseg re-registers mmengine's loader
   for local paths with ``weights_only=False``. Only load checkpoints you
   trust, as with any pickle.
2. mmengine writes local files in place; a run killed while saving leaves a
   truncated checkpoint. cisseg registers a local backend whose ``put`` and
   ``put_text`` write a temporary file and rename it (atomic on POSIX), so
   every checkpoint mmengine saves is whole or absent.
"""
import os.path as osp

import torch
from mmengine.fileio import LocalBackend, register_backend
from mmengine.runner import CheckpointLoader

from cisseg.utils import atomic_write_bytes


@CheckpointLoader.register_scheme(prefixes='', force=True)
def load_from_local(filename: str, map_location=None):
    """Load a local checkpoint with ``weights_only=False`` (see above)."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename}: checkpoint not found')
    return torch.load(filename, map_location=map_location,
                      weights_only=False)


def checkpoint_meta(filename: str) -> dict:
    """``meta`` of a local checkpoint without reading its tensors: the file
    is memory-mapped, so only the pickled metadata is read (checking a
    step's checkpoint no longer costs a full load before the real one)."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename}: checkpoint not found')
    ckpt = torch.load(filename, map_location='cpu', weights_only=False,
                      mmap=True)
    return ckpt.get('meta', {}) if isinstance(ckpt, dict) else {}


class AtomicLocalBackend(LocalBackend):
    """mmengine's local backend with atomic writes."""

    def put(self, obj: bytes, filepath) -> None:
        atomic_write_bytes(str(filepath), obj)

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        atomic_write_bytes(str(filepath), obj.encode(encoding))


# prefixes='': paths without a scheme (local files) map to this backend;
# without it get_file_backend() would still return mmengine's LocalBackend.
register_backend('local', AtomicLocalBackend, force=True, prefixes='')
