"""humanparse_d2.engine.launch: a finished worker closes its process group, keeps Python's orderly
exit steps and skips the interpreter teardown that can abort gloo workers."""

import subprocess
import sys
import textwrap

import pytest
import torch.distributed as dist

from humanparse_d2.engine.launch import _worker, launch

# A worker in a fresh interpreter: a world of one, a main_func that leaves work for the exit steps
# (a non-daemon thread still running, an atexit handler) and an object whose finaliser aborts the
# process, as a C++ destructor of torch/gloo can during teardown.
_CHILD = textwrap.dedent(
    """
    import atexit, os, sys, threading, time
    import torch.distributed as dist
    from humanparse_d2.engine.launch import _worker

    out = sys.argv[1]

    class AbortsInTeardown:
        def __del__(self, _abort=os.abort):
            _abort()

    def main_func(tag):
        def late_write():
            time.sleep(0.3)
            open(os.path.join(out, "thread"), "w").write(tag)

        threading.Thread(target=late_write).start()
        atexit.register(
            lambda: open(os.path.join(out, "atexit"), "w").write(str(dist.is_initialized()))
        )
        sys.modules["os"].held_until_teardown = AbortsInTeardown()
        print("main_func done", flush=True)

    dist.init_process_group(
        "gloo", init_method="file://" + os.path.join(out, "store"), world_size=1, rank=0
    )
    _worker(main_func, "t")
    """
)


def _run_child(tmp_path, code):
    return subprocess.run(
        [sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120
    )


def test_the_teardown_abort_is_real_without_the_worker_exit(tmp_path):
    """Control: the same finaliser aborts a process that exits the normal way."""
    code = _CHILD.replace('_worker(main_func, "t")', 'main_func("t")')
    r = _run_child(tmp_path, code)
    assert r.returncode == -6, r.stderr  # SIGABRT


def test_finished_worker_exits_0_after_threads_and_atexit(tmp_path):
    r = _run_child(tmp_path, _CHILD)
    assert r.returncode == 0, r.stderr
    assert "main_func done" in r.stdout
    assert (tmp_path / "thread").read_text() == "t"  # the non-daemon thread was joined
    # the atexit handler ran, after the process group had been closed
    assert (tmp_path / "atexit").read_text() == "False"


def test_an_exception_propagates_and_skips_the_closing(tmp_path):
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'store'}", world_size=1, rank=0
    )
    try:

        def fail():
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            _worker(fail)
        assert dist.is_initialized()
    finally:
        dist.destroy_process_group()


def test_single_process_runs_in_this_process():
    seen = []
    launch(lambda a, b: seen.append(a + b), 1, args=(2, 3))  # an _exit here would end pytest
    assert seen == [5]
    assert not dist.is_initialized()
