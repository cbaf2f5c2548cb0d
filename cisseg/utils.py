"""Small helpers shared by the package: atomic writes, JSON files that
name themselves in errors, paths kept inside a work dir, the work-dir lock,
the message of an error for a one-line report, a choice among names."""
import fcntl
import io
import json
import os
import os.path as osp
import re
import socket
import tempfile
import time

import torch


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _umask()


def atomic_write_bytes(path: str, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old file or the
    whole new one, never a part: write a temp file, fsync, rename. The file
    gets the permissions ``open(path, 'wb')`` would give it (mkstemp's
    temp files are private, 0600)."""
    folder = osp.dirname(osp.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.' + osp.basename(path) + '.',
                               suffix='.tmp', dir=folder)
    try:
        os.fchmod(fd, 0o666 & ~_UMASK)
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def atomic_write_text(path: str, text: str) -> None:
    atomic_write_bytes(path, text.encode('utf-8'))


def atomic_torch_save(obj, path: str) -> None:
    """``torch.save`` that never leaves a partial file behind."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    atomic_write_bytes(path, buf.getvalue())


def check_choice(what: str, value, allowed):
    """``value`` if it is in ``allowed``, else a ValueError saying
    ``'<what> must be one of <allowed>, got <value>'``."""
    if value not in allowed:
        raise ValueError(f'{what} must be one of {allowed}, got {value!r}')
    return value


def read_json(path: str, what: str = 'JSON file'):
    """``json.load`` of ``path``; a file that does not parse raises a
    ValueError naming it (``json``'s own message names no file)."""
    try:
        with open(path) as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise ValueError(f'{path}: {what} is not valid JSON ({e}); restore '
                         'it or remove it') from e


def path_inside(root: str, rel: str, what: str) -> str:
    """``root/rel``, refused (ValueError) unless it stays inside ``root``
    (an absolute ``rel``, ``..`` or a symbolic link out of it)."""
    root = osp.realpath(root)
    path = osp.realpath(osp.join(root, rel))
    if osp.isabs(rel) or osp.commonpath([root, path]) != root:
        raise ValueError(f'{what}: {rel!r} is outside the work dir {root}')
    return path


# torch's re-raise of an error in a DataLoader worker: 'Caught ValueError
# in DataLoader worker process 0.\nOriginal Traceback ...\nValueError: msg'
_WORKER_ERROR = re.compile(r'Caught (\w+) in DataLoader worker process \d+')


def error_message(exc: BaseException) -> str:
    """The message of ``exc`` for a one-line report: for an error raised in
    a DataLoader worker, the original message (which names the file), not
    torch's 'Caught X in DataLoader worker process N.'."""
    text = exc.args[0] if isinstance(exc, KeyError) and len(exc.args) == 1 \
        and isinstance(exc.args[0], str) else str(exc)  # KeyError quotes
    m = _WORKER_ERROR.match(text)
    if m:
        head = m.group(1) + ': '
        lines = [line for line in text.splitlines() if line.startswith(head)]
        if lines:
            text = lines[-1][len(head):]
            if m.group(1) == 'KeyError' and text[:1] in '\'"' and \
                    text[-1:] == text[:1]:
                text = text[1:-1]
    return text


class WorkDirBusy(ValueError):
    """Another run holds the work dir's lock (a user error: one line)."""


class WorkDirLock:
    """An exclusive lock on a work dir for one run (a context manager).

    ``WORK_DIR/.cisseg.lock`` holds the pid and host of the run; the lock
    itself is an ``flock`` on it, which the kernel drops when the process
    ends, so the lock of a dead run is taken over. A second run gets a
    :class:`WorkDirBusy` naming the file and the pid that holds it.
    """

    NAME = '.cisseg.lock'

    def __init__(self, work_dir: str) -> None:
        self.path = osp.join(work_dir, self.NAME)
        self.taken_over = ''
        self._fd = None

    def acquire(self) -> None:
        os.makedirs(osp.dirname(self.path), exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o666 & ~_UMASK)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 200).decode(errors='replace').strip()
                os.close(fd)
                raise WorkDirBusy(
                    f'{self.path}: the work dir is in use by another run '
                    f"({holder or 'unknown pid'}); wait for it to end or "
                    'use another --work-dir') from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:  # removed by the run that just ended
                same = False
            if same:
                break
            os.close(fd)
        #: what a run that ended without removing the file wrote in it
        self.taken_over = os.read(fd, 200).decode(errors='replace').strip()
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, f'pid {os.getpid()} on {socket.gethostname()} since '
                 f"{time.strftime('%Y-%m-%d %H:%M:%S')}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        try:
            os.remove(self.path)
        except FileNotFoundError:
            pass
        os.close(self._fd)  # drops the flock
        self._fd = None

    def __enter__(self) -> 'WorkDirLock':
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()
