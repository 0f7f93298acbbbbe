"""Child process of the fault-injection test: trains a tiny QANet or MMAN to SOLVER.MAX_ITER.

    python train_child.py {qanet,mman} OUTPUT_DIR MAX_ITER [--resume] [--markers DIR]
    python train_child.py --serve      # reads such argument lines from stdin, forks one run each

``--serve`` imports torch/detectron2/humanparse_d2 once and forks a fresh process per line
(printing ``pid <pid>`` then ``exit <pid> <status>``), so the test can kill and restart training
many times without paying the imports each time. Checkpoints every iteration. With ``--markers DIR`` every fsync of a checkpoint write (the
moment between writing the temporary file and renaming it) first creates ``DIR/save_<n>`` and
pauses half a second, so the parent can kill the process in the middle of a save.
"""

import itertools
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
# run as a script: the `tests` package lives at the repo root
sys.path.insert(0, str(HERE.parents[1]))


def _install_fault_markers(markers, pause=0.5):
    if not markers:
        return
    real_fsync = os.fsync
    counter = itertools.count(1)

    def slow_fsync(fd):
        Path(markers, f"save_{next(counter)}").touch()
        time.sleep(pause)
        real_fsync(fd)

    import humanparse_d2.utils.atomic as atomic

    atomic.os = type(sys)("os_with_slow_fsync")
    atomic.os.__dict__.update(os.__dict__)
    atomic.os.fsync = slow_fsync


def qanet_trainer(out, max_iter):
    from humanparse_d2.engine import HumanParseTrainer
    from tests.qanet.common import train_batch
    from tests.tiny_configs import tiny_qanet_cfg as tiny_cfg

    cfg = tiny_cfg()
    cfg.OUTPUT_DIR = str(out)
    cfg.SOLVER.IMS_PER_BATCH = 2
    cfg.SOLVER.BASE_LR = 0.001
    cfg.SOLVER.WARMUP_ITERS = 0
    cfg.SOLVER.STEPS = (max_iter // 2,)
    cfg.SOLVER.MAX_ITER = max_iter
    cfg.SOLVER.CHECKPOINT_PERIOD = 1
    cfg.DATALOADER.NUM_WORKERS = 0

    class Tiny(HumanParseTrainer):
        @classmethod
        def build_train_loader(cls, cfg):
            return (train_batch(2, crop=(64, 64)) for _ in itertools.count())

    return Tiny, cfg


def mman_trainer(out, max_iter):
    from tests.mman.mman_testutils import tiny_cfg, tiny_trainer_class

    cfg = tiny_cfg(out)
    cfg.SOLVER.MAX_ITER = max_iter
    cfg.SOLVER.STEPS = (max_iter // 2,)
    cfg.SOLVER.CHECKPOINT_PERIOD = 1
    return tiny_trainer_class(checkpoints=True), cfg


def _imports():
    import torch

    torch.set_num_threads(1)

    import humanparse_d2  # noqa: F401
    import humanparse_d2.engine.adversarial  # noqa: F401
    import tests.mman.mman_testutils  # noqa: F401
    import tests.qanet.common  # noqa: F401
    import tests.tiny_configs  # noqa: F401


def serve():
    _imports()
    for line in sys.stdin:
        argv = line.split()
        if not argv:
            continue
        pid = os.fork()
        if pid == 0:
            status = 1
            try:
                log = os.open(
                    os.path.join(argv[1], "child_output.txt"),
                    os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                )
                os.dup2(log, 1)
                os.dup2(log, 2)
                sys.argv = [sys.argv[0]] + argv
                main()
                status = 0
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(status)
        print(f"pid {pid}", flush=True)
        _, st = os.waitpid(pid, 0)
        print(f"exit {pid} {st}", flush=True)


def main():
    which, out, max_iter = sys.argv[1], sys.argv[2], int(sys.argv[3])
    resume = "--resume" in sys.argv
    _imports()
    from humanparse_d2.engine import setup_plugin_logger

    setup_plugin_logger(out, rank=0)
    _install_fault_markers(
        sys.argv[sys.argv.index("--markers") + 1] if "--markers" in sys.argv else None
    )
    trainer_cls, cfg = (qanet_trainer if which == "qanet" else mman_trainer)(out, max_iter)
    trainer = trainer_cls(cfg)
    trainer.resume_or_load(resume=resume)
    Path(out, f"started_{os.getpid()}_at_{trainer.start_iter}").touch()
    trainer.train()


if __name__ == "__main__":
    serve() if sys.argv[1:] == ["--serve"] else main()
