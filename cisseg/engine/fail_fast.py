"""End every rank of a launch when one rank fails.

A rank that raises leaves the others blocked in their next collective:
with gloo until the failed process exits (destroying its process group
does not close the connections while the model's DDP wrapper holds it),
with NCCL until the collective's timeout (30 minutes by default); a
launcher that does not kill the other ranks (``srun``, ``mpirun``) keeps
them there. :class:`PeerFailureWatch` makes the failure reach them at once
through the process group's store: the failed rank posts its error, every
other rank's watcher thread polls for it, prints it and ends its process.
"""
import os
import sys
import threading
import time
from typing import Optional

import torch.distributed as dist

from cisseg.utils import error_message

FAILED = 'cisseg/failed'
SEEN = 'cisseg/failed_seen'


class PeerFailureWatch:
    """Post this rank's failure; end this rank when another one failed.

    Args:
        interval (float): seconds between two polls of the store.
        grace (float): how long a failed rank waits for the others to read
            its failure before it goes on (rank 0 holds the store).
    """

    def __init__(self, interval: float = 0.5, grace: float = 5.0) -> None:
        self.interval = interval
        self.grace = grace
        self._store = None
        self._stop = threading.Event()
        self._thread: Optional[threading.Thread] = None

    def start(self) -> 'PeerFailureWatch':
        if not (dist.is_available() and dist.is_initialized()) or \
                dist.get_world_size() < 2:
            return self
        try:
            self._store = dist.distributed_c10d._get_default_store()
        except (AttributeError, RuntimeError, ValueError):
            return self  # no store to share the failure through
        self.rank, self.world = dist.get_rank(), dist.get_world_size()
        self._thread = threading.Thread(target=self._watch, daemon=True,
                                        name='cisseg-peer-failure-watch')
        self._thread.start()
        return self

    def _watch(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if not self._store.check([FAILED]):
                    continue
                failure = self._store.get(FAILED).decode(errors='replace')
                if failure.startswith(f'{self.rank}:'):
                    return  # our own
                self._store.add(SEEN, 1)
            except Exception:  # noqa: B902  the store is gone (rank 0
                return         # ended): the collectives report it
            rank, _, message = failure.partition(':')
            print(f'error: rank {self.rank}/{self.world}: ending, rank '
                  f'{rank} failed:{message}', file=sys.stderr, flush=True)
            sys.stdout.flush()
            os._exit(1)

    def post(self, exc: BaseException) -> None:
        """Tell the other ranks that this one failed with ``exc``; wait up
        to ``grace`` seconds for them to read it."""
        if self._store is None:
            return
        self._stop.set()
        lines = error_message(exc).strip().splitlines()
        message = f'{type(exc).__name__}: {lines[0] if lines else ""}'
        try:
            self._store.set(FAILED, f'{self.rank}: {message}')
            deadline = time.time() + self.grace
            while time.time() < deadline and \
                    self._store.add(SEEN, 0) < self.world - 1:
                time.sleep(self.interval / 2)
        except Exception:  # noqa: B902  the store is gone: nothing to tell
            pass

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
