"""Checkpoint loading and saving, set up once on ``import cisseg``.

1. Loading. mmengine checkpoints pickle the message hub's
   ``HistoryBuffer``, whose state holds functions (reached through
   ``getattr``, which no safe loader can allow). cisseg pickles a
   ``HistoryBuffer`` as its class called on plain lists (``copyreg``), and
   re-registers mmengine's loader for local paths with ``weights_only=True``
   and an allow-list of that class and numpy's array pieces
   (:data:`SAFE_GLOBALS`): a pickle that asks for anything else (code to
   run) is refused, naming the file. :func:`checkpoint_meta` reads a
   checkpoint's ``meta`` the same way. Checkpoints saved by mmengine without
   cisseg (with ``getattr``) are refused too.
2. Saving. mmengine writes local files in place; a run killed while saving
   leaves a truncated checkpoint. cisseg registers a local backend whose
   ``put`` and ``put_text`` write a temporary file and rename it (atomic on
   POSIX), so every checkpoint mmengine saves is whole or absent.
"""
import _codecs
import contextlib
import copyreg
import os.path as osp
import pickle
import re

import numpy as np
import torch
from mmengine.fileio import LocalBackend, register_backend
from mmengine.logging.history_buffer import HistoryBuffer
from mmengine.runner import CheckpointLoader

from cisseg.utils import atomic_write_bytes


def _numpy_globals() -> list:
    """What a pickled numpy array or scalar refers to."""
    core = getattr(np, '_core', None) or np.core
    found = [core.multiarray._reconstruct, core.multiarray.scalar,
             np.ndarray, np.dtype]
    # numpy >= 1.25 pickles a dtype through its class (Float64DType ...)
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        found += [getattr(dtypes, n) for n in dir(dtypes)
                  if n.endswith('DType')]
    return found


#: the globals an mmengine checkpoint needs besides tensors (numpy arrays
#: pickled with protocol 2, torch.save's, store their bytes through
#: ``_codecs.encode``: allowed by torch >= 2.5 itself, not by 2.4)
SAFE_GLOBALS = [HistoryBuffer, _codecs.encode] + _numpy_globals()


def _allowing_safe_globals():
    """Allow :data:`SAFE_GLOBALS` to ``weights_only`` loads: for the ``with``
    block on torch >= 2.5 (``safe_globals``); on torch 2.4, which has only
    ``add_safe_globals``, for the rest of the process."""
    serialization = torch.serialization
    if hasattr(serialization, 'safe_globals'):
        return serialization.safe_globals(SAFE_GLOBALS)
    serialization.add_safe_globals(SAFE_GLOBALS)
    return contextlib.nullcontext()


def _reduce_history_buffer(buf: HistoryBuffer):
    """Pickle a HistoryBuffer as ``HistoryBuffer(log, count, max_length)``
    on lists (its own ``__getstate__`` adds its statistics functions)."""
    return HistoryBuffer, (buf._log_history.tolist(),
                           buf._count_history.tolist(), buf.max_length)


copyreg.pickle(HistoryBuffer, _reduce_history_buffer)


class UnreadableCheckpoint(ValueError):
    """A checkpoint file torch cannot read (truncated, not a checkpoint)."""


def safe_load(filename: str, map_location=None, mmap: bool = False):
    """``torch.load`` with ``weights_only=True`` and :data:`SAFE_GLOBALS`.

    Raises:
        FileNotFoundError: no such file.
        UnreadableCheckpoint: a truncated or foreign file.
        ValueError: a pickle that needs other globals (refused).
    """
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename}: checkpoint not found')
    try:
        with _allowing_safe_globals():
            return torch.load(filename, map_location=map_location,
                              weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        if 'Weights only load failed' not in str(e):
            raise UnreadableCheckpoint(
                f'{filename}: unreadable checkpoint ({e})') from e
        m = re.search(r'GLOBAL (\S+)', str(e))
        what = f'the global {m.group(1)}' if m else 'unsupported content'
        raise ValueError(
            f'{filename}: refused, it pickles more than weights ({what}); '
            'cisseg loads checkpoints with weights_only=True') from e
    except (RuntimeError, EOFError, OSError) as e:
        msg = str(e).strip().split('. ')[0].splitlines()
        raise UnreadableCheckpoint(
            f'{filename}: unreadable checkpoint, truncated or not a torch '
            f"file ({msg[0] if msg else type(e).__name__})") from e


@CheckpointLoader.register_scheme(prefixes='', force=True)
def load_from_local(filename: str, map_location=None):
    """Load a local checkpoint with ``weights_only=True`` (see above)."""
    return safe_load(filename, map_location=map_location)


def checkpoint_meta(filename: str) -> dict:
    """``meta`` of a local checkpoint without reading its tensors: the file
    is memory-mapped, so only the pickled metadata is read (checking a
    step's checkpoint no longer costs a full load before the real one)."""
    ckpt = safe_load(filename, map_location='cpu', mmap=True)
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
