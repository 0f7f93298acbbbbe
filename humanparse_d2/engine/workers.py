"""Training-loader guards: bad files are skipped and counted, workers die with their trainer.

:class:`GuardedMapper` wraps the training mapper. A record whose file is unreadable, truncated or
inconsistent with its label (:class:`~humanparse_d2.data.catalog.common.BadAnnotationError`, or an
``OSError`` when a file vanished or its disk failed) is skipped: it is logged with its file name,
counted across all loader workers, and the mapper returns ``None``, which detectron2's
``MapDataset`` answers with another random record. After ``max_bad`` such files the run stops with
:class:`TooManyBadFilesError` listing them (a dataset that rots faster than that is not a dataset
to train on).

Inside a data-loader worker the first call also sets ``PR_SET_PDEATHSIG`` (Linux ``prctl``): when
the trainer process dies, even by ``kill -9``, the kernel sends SIGKILL to the worker. torch's own
watchdog only notices a dead parent when the worker next waits for work, so a worker busy in a slow
decode, or one waiting on a full queue, could otherwise outlive its trainer. detectron2 fixes the
DataLoader's ``worker_init_fn``, hence the lazy set-up here.
"""

import ctypes
import ctypes.util
import logging
import multiprocessing as mp
import os
import signal
from collections.abc import Callable

from torch.utils.data import get_worker_info

from humanparse_d2.data.catalog.common import BadAnnotationError

__all__ = ["GuardedMapper", "TooManyBadFilesError", "set_parent_death_signal"]

logger = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1


class TooManyBadFilesError(RuntimeError):
    """More training files failed to load than ``DATALOADER.MAX_BAD_FILES`` allows."""


def set_parent_death_signal(sig: int = signal.SIGKILL, expected_parent: int | None = None) -> bool:
    """Ask the kernel to send ``sig`` to this process when its parent dies (Linux only).

    Returns False where ``prctl`` is unavailable. If the parent is already gone (it died before
    the call), the process exits at once.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        ok = libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0) == 0
    except (OSError, AttributeError):
        ok = False
    if expected_parent is not None and os.getppid() != expected_parent:
        os._exit(1)  # orphaned between fork and prctl: nobody will read our output
    return ok


class GuardedMapper:
    """``mapper`` that skips and counts bad files (see the module docstring).

    Args:
        mapper: the dataset mapper (record dict -> model input dict).
        max_bad: how many bad files are skipped before :class:`TooManyBadFilesError`; 0 makes the
            first bad file an error.
    """

    def __init__(self, mapper: Callable, max_bad: int = 100):
        self.mapper = mapper
        self.max_bad = int(max_bad)
        self.parent_pid = os.getpid()
        self._armed_pid: int | None = None
        # shared by all workers (forked or spawned with the loader): the cap is global to the run
        self._count = mp.get_context().Value("i", 0)
        self.bad: dict[str, str] = {}  # file -> reason, for this process

    def __getattr__(self, name):  # mappers expose helpers (prepare_dataset, ...)
        if name in ("mapper", "__setstate__"):
            raise AttributeError(name)
        return getattr(self.mapper, name)

    def _arm(self) -> None:
        pid = os.getpid()
        if self._armed_pid == pid:
            return
        self._armed_pid = pid
        if pid != self.parent_pid and get_worker_info() is not None:
            set_parent_death_signal(signal.SIGKILL, expected_parent=self.parent_pid)

    def __call__(self, record: dict):
        self._arm()
        try:
            return self.mapper(record)
        except (BadAnnotationError, OSError) as e:
            return self._skip(record, e)

    def _skip(self, record: dict, err: Exception):
        name = str(record.get("file_name", "<record without file_name>"))
        self.bad[name] = f"{type(err).__name__}: {err}"
        with self._count.get_lock():
            self._count.value += 1
            total = self._count.value
        if total > self.max_bad:
            raise TooManyBadFilesError(
                f"{total} training files failed to load (DATALOADER.MAX_BAD_FILES={self.max_bad}); "
                f"stopping. Files seen by this loader process:\n  "
                + "\n  ".join(f"{k}: {v}" for k, v in self.bad.items())
            ) from err
        logger.warning(
            "skipping training file %s (%s: %s); %d bad file(s) so far, the run stops after %d",
            name,
            type(err).__name__,
            err,
            total,
            self.max_bad,
        )
        return None

    @property
    def num_bad(self) -> int:
        return int(self._count.value)

    def bad_files(self) -> list[str]:
        return sorted(self.bad)
