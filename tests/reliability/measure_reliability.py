#!/usr/bin/env python
"""Measure the figures of docs/RELIABILITY.md (not a test; minutes on 2 CPU cores).

    python tests/reliability/measure_reliability.py [--only checkpoint,workers,dead_rank] [--json OUT]

- checkpoint: seconds of ``HumanParseCheckpointer.save`` (temporary file + fsync + rename, and
  the last_checkpoint tag) for models + optimizer states, and the file size;
- workers: seconds from ``kill -9`` of the parent to the exit of (a) a busy data-loader worker,
  with and without the parent-death guard, and (b) the 2 workers of a real ``tools/train_net.py``;
- dead_rank: seconds from ``kill -9`` of rank 1 of a 2-process CPU (gloo) ``tools/train_net.py``
  run to the exit of the whole run, and the error it ends with.
"""

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))  # run as a script: the `tests` package lives at the repo root
from tests.reliability.processes import alive, children, measure_worker_exit

QUICK = REPO / "projects/QANet/configs/quick/QANet_R18_synth.yaml"
ENV = dict(os.environ, CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1", PYTHONWARNINGS="ignore")


def measure_checkpoint(configs, repeats=3):
    import torch
    from detectron2.checkpoint import DetectionCheckpointer

    from humanparse_d2.checkpoint.checkpointer import HumanParseCheckpointer
    from humanparse_d2.engine import build_trainer_class, load_config

    out = {}
    for cfg_file in configs:
        cfg = load_config(str(REPO / cfg_file), ["MODEL.WEIGHTS", ""], check_names=False)
        trainer_cls = build_trainer_class(cfg)
        model = trainer_cls.build_model(cfg)
        opt = trainer_cls.build_optimizer(cfg, model)
        for p in model.parameters():  # one step so that the optimizer holds its state tensors
            p.grad = torch.zeros_like(p)
        opt.step()
        with tempfile.TemporaryDirectory(
            dir=REPO / "output" if (REPO / "output").is_dir() else None
        ) as d:
            ck = HumanParseCheckpointer(model, d, optimizer=opt)
            times = []
            for i in range(repeats):
                t0 = time.perf_counter()
                ck.save(f"model_{i:07d}")
                times.append(time.perf_counter() - t0)
            size = os.path.getsize(os.path.join(d, "model_0000000.pth"))
            plain = DetectionCheckpointer(
                model, d, optimizer=opt
            )  # no fsync, no rename: the baseline
            base = []
            for i in range(repeats):
                t0 = time.perf_counter()
                plain.save(f"plain_{i:07d}")
                base.append(time.perf_counter() - t0)
        out[cfg_file] = {
            "seconds_median": round(statistics.median(times), 3),
            "seconds": [round(t, 3) for t in times],
            "detectron2_seconds_median": round(statistics.median(base), 3),
            "megabytes": round(size / 2**20, 1),
        }
        print("checkpoint", cfg_file, out[cfg_file], flush=True)
    return out


def train_net_command(outdir, *args):
    """tools/train_net.py on the quick QANet config, long enough to be killed while training."""
    return [
        sys.executable,
        str(REPO / "tools/train_net.py"),
        "--config-file",
        str(QUICK),
        *args,
        "SOLVER.IMS_PER_BATCH",
        "4",
        "SOLVER.MAX_ITER",
        "100000",
        "DATASETS.TEST",
        "()",
        "OUTPUT_DIR",
        str(outdir),
    ]


def wait_until_training(proc, outdir, what, console=lambda: ""):
    """Block until ``outdir/log.txt`` shows an iteration; raises if ``proc`` exits or 10 min pass."""
    t0 = time.time()
    while True:
        log = outdir / "log.txt"
        if log.exists() and " iter: " in log.read_text():
            return
        if proc.poll() is not None or time.time() - t0 > 600:
            raise RuntimeError(f"{what} did not start training" + console())
        time.sleep(0.5)


def measure_train_net_workers(tmp):
    """Kill -9 a real train_net run with 2 loader workers; seconds until both workers are gone."""
    outdir = Path(tmp) / "workers"
    cmd = train_net_command(outdir, "DATALOADER.NUM_WORKERS", "2")
    proc = subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_until_training(proc, outdir, "train_net")
    workers = [c for c in children(proc.pid) if "python" in Path(f"/proc/{c}/cmdline").read_text()]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    t0 = time.perf_counter()
    while any(alive(w) for w in workers) and time.perf_counter() - t0 < 60:
        time.sleep(0.005)
    dt = time.perf_counter() - t0
    for w in workers:
        if alive(w):
            os.kill(w, signal.SIGKILL)
    return {"workers": len(workers), "seconds_to_exit": round(dt, 3)}


def measure_workers(tmp):
    busy = []
    for i in range(3):
        d = Path(tmp) / f"busy{i}"
        d.mkdir()
        busy.append(measure_worker_exit(d, limit=10.0))
    res = {
        "busy_worker_guarded_seconds": [round(b["guarded"], 3) for b in busy],
        "busy_worker_unguarded_seconds": [round(b["plain"], 3) for b in busy],
        "train_net": measure_train_net_workers(tmp),
    }
    print("workers", res, flush=True)
    return res


def console_text(tmp):
    return (Path(tmp) / "ddp_console.txt").read_text(errors="replace")


def error_lines(output, last=4):
    """The last lines of a console output that name an error, a termination or a signal."""
    return [
        ln.strip()
        for ln in output.splitlines()
        if ("Error" in ln or "terminated" in ln or "signal" in ln) and len(ln) < 300
    ][-last:]


def measure_dead_rank(tmp):
    """Kill -9 rank 1 of a 2-process CPU (gloo) train_net run; seconds until the whole run exits."""
    outdir = Path(tmp) / "ddp"
    cmd = train_net_command(
        outdir, "--num-gpus", "2", "--dist-url", "auto", "DATALOADER.NUM_WORKERS", "0"
    )
    outdir.mkdir(parents=True, exist_ok=True)
    console = open(
        Path(tmp) / "ddp_console.txt", "w"
    )  # a file: a pipe nobody reads would block the run
    proc = subprocess.Popen(cmd, env=ENV, stdout=console, stderr=subprocess.STDOUT, text=True)
    wait_until_training(
        proc, outdir, "2-process train_net", lambda: ":\n" + console_text(tmp)[-3000:]
    )
    ranks = [
        c for c in children(proc.pid) if "spawn_main" in Path(f"/proc/{c}/cmdline").read_text()
    ]
    ranks = [r for r in ranks if alive(r)]
    assert len(ranks) == 2, ranks
    victim = max(ranks)  # started second: rank 1
    os.kill(victim, signal.SIGKILL)
    t0 = time.perf_counter()
    proc.wait(timeout=900)
    dt = time.perf_counter() - t0
    console.close()
    res = {
        "seconds_to_exit": round(dt, 1),
        "returncode": proc.returncode,
        "last_error_lines": error_lines(console_text(tmp)),
    }
    print("dead_rank", res, flush=True)
    return res


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--only", default="checkpoint,workers,dead_rank")
    ap.add_argument("--json", default="")
    args = ap.parse_args()
    os.environ.update(CUDA_VISIBLE_DEVICES="", OMP_NUM_THREADS="1")
    import humanparse_d2  # noqa: F401
    from humanparse_d2.utils.provenance import git_commit

    res = {"commit": git_commit()}
    only = set(args.only.split(","))
    with tempfile.TemporaryDirectory() as tmp:
        if "checkpoint" in only:
            res["checkpoint"] = measure_checkpoint(
                [
                    "projects/QANet/configs/quick/QANet_R18_synth.yaml",
                    "projects/QANet/configs/CIHP/QANet_R50c_512x384.yaml",
                    "projects/MMAN/configs/quick/MMAN_synth_lip.yaml",
                ]
            )
        if "workers" in only:
            res["workers"] = measure_workers(tmp)
        if "dead_rank" in only:
            res["dead_rank"] = measure_dead_rank(tmp)
    print(json.dumps(res, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
