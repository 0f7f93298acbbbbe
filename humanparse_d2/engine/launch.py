"""detectron2's ``launch``, with workers that end without tearing down the interpreter.

detectron2 starts its workers with the ``spawn`` method, so a worker whose ``main_func`` returned
still runs Python's full finalisation: module teardown, then the C++ static destructors of torch,
gloo and OpenCV. With the gloo backend (torch 2.14) that finalisation sometimes aborts a worker
("terminate called without an active exception", SIGABRT: pytorch/pytorch#179291 describes threads
freeing tensors during teardown), and ``launch`` then reports a run that had finished as failed.
Repeating the two-process evaluation test (``for i in $(seq 45); do pytest -q
tests/evaluation/test_evaluators.py -k gloo; done``) gave 2 aborts in 42 runs with plain detectron2
workers. Closing the process group first (barrier + ``destroy_process_group``) gave 0 in 45 runs and
0 in 30 under load here, but the project's CI still saw the abort once. So a worker that finished
now does what Python's exit does up to the teardown (join its threads, run the ``atexit`` handlers,
flush) and leaves with ``os._exit(0)``, as the ``fork`` start method of ``multiprocessing`` ends its
children.
"""

import atexit
import functools
import os
import sys
import threading

import torch.distributed as dist
from detectron2.engine import launch as _d2_launch
from detectron2.utils import comm

__all__ = ["launch"]


def _close_process_group() -> None:
    if dist.is_available() and dist.is_initialized():
        comm.synchronize()  # no rank tears the group down while another still talks through it
        dist.destroy_process_group()


def _exit_like_python(code: int = 0) -> None:
    """Python's orderly exit steps (non-daemon threads joined, ``atexit`` handlers: log files,
    ``multiprocessing`` children), then ``os._exit``: no module teardown, no static destructors."""
    me = threading.current_thread()
    for t in threading.enumerate():
        if t is not me and not t.daemon:
            t.join()
    atexit._run_exitfuncs()  # the handlers Python itself would run now; not run again by _exit
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: nothing left to save
            pass
    os._exit(code)


def _worker(main_func, *args) -> None:
    """One spawned worker: ``main_func``, then the process group closed and the process ended.
    An exception skips both: it propagates, and torch's spawn reports it with its traceback."""
    main_func(*args)
    _close_process_group()
    _exit_like_python(0)


def launch(main_func, num_gpus_per_machine: int, num_machines: int = 1, *args, **kwargs):
    """``detectron2.engine.launch`` (same arguments). With more than one process in all, each worker
    closes the process group after ``main_func`` returns and exits without interpreter teardown;
    a single-process run calls ``main_func`` in this process, as detectron2 does."""
    if num_gpus_per_machine * num_machines > 1:
        main_func = functools.partial(_worker, main_func)
    return _d2_launch(main_func, num_gpus_per_machine, num_machines, *args, **kwargs)
