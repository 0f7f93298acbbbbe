"""Process helpers of the reliability tests and of measure_reliability.py (Linux /proc)."""

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (empty once it is gone)."""
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except FileNotFoundError:
        return []


def alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (exited, not yet reaped) counts as gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


_WORKER_SCRIPT = textwrap.dedent(
    """
    import os, sys, threading, time
    from torch.utils.data import DataLoader
    from detectron2.data.common import MapDataset
    from humanparse_d2.engine.workers import GuardedMapper

    def slow(record):  # a worker busy in a long decode: torch's watchdog never gets to run
        open(os.path.join(sys.argv[1], f"{record}.pid"), "w").write(str(os.getpid()))
        time.sleep(120)
        return record

    def consume(mapper, tag):
        for _ in DataLoader(MapDataset([tag], mapper), num_workers=1, batch_size=None):
            pass

    # one loader with the guard, one without; each worker writes its pid, then sleeps
    threading.Thread(target=consume, args=(GuardedMapper(slow), "guarded"), daemon=True).start()
    consume(slow, "plain")
    """
)


def measure_worker_exit(tmp_path: Path, limit: float = 3.0) -> dict[str, float]:
    """Seconds from ``kill -9`` of a trainer-like parent to the exit of its busy loader workers:
    ``{"guarded": s, "plain": s}``, ``limit`` for a worker still alive then (killed here)."""
    script = tmp_path / "parent.py"
    script.write_text(_WORKER_SCRIPT)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")
    parent = subprocess.Popen([sys.executable, str(script), str(tmp_path)], env=env)
    files = {m: tmp_path / f"{m}.pid" for m in ("guarded", "plain")}
    t0 = time.time()
    while not all(f.exists() and f.read_text() for f in files.values()):
        assert time.time() - t0 < 120 and parent.poll() is None, "workers never started"
        time.sleep(0.05)
    workers = {m: int(f.read_text()) for m, f in files.items()}
    parent.send_signal(signal.SIGKILL)
    parent.wait()
    t0 = time.perf_counter()
    out = {}
    while len(out) < 2 and time.perf_counter() - t0 < limit:
        for m, pid in workers.items():
            if m not in out and not alive(pid):
                out[m] = time.perf_counter() - t0
        time.sleep(0.005)
    for m, pid in workers.items():
        if m not in out:
            os.kill(pid, signal.SIGKILL)
            out[m] = limit
    return out
