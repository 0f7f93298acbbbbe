"""Two CPU processes (gloo): separate DDP for G and for the adversary, finite losses, the same
weights on both ranks after training on different data."""

import itertools

import pytest
import torch


def _worker(out_dir):
    from detectron2.utils import comm

    import humanparse_d2  # noqa: F401
    from humanparse_d2.projects.mman import MMANTrainer

    from .mman_testutils import tiny_batch, tiny_cfg

    torch.manual_seed(comm.get_rank())  # different init on purpose: DDP must broadcast rank 0's
    rank = comm.get_rank()

    class Trainer(MMANTrainer):
        @classmethod
        def build_train_loader(cls, cfg):
            return (tiny_batch(1, 32, seed=100 * rank + i) for i in itertools.count())

    cfg = tiny_cfg(out_dir, **{"SOLVER.MAX_ITER": 3, "SOLVER.MMAN_D.UPDATE_PERIOD": 2})
    trainer = Trainer(cfg)
    trainer.resume_or_load(resume=False)
    assert type(trainer._trainer.adversary_ddp).__name__ == "DistributedDataParallel"
    assert type(trainer.model).__name__ == "DistributedDataParallel"
    trainer.train()
    torch.save(
        {
            "g": trainer.model.module.state_dict(),
            "d": trainer.adversary.state_dict(),
            # metrics are gathered to and written by the main process only
            "loss": trainer.storage.history("total_loss").latest() if rank == 0 else None,
            "d_iters": [it for _, it in trainer.storage.history("loss_d_micro").values()],
        },
        f"{out_dir}/rank{rank}.pt",
    )


@pytest.mark.slow
def test_two_process_gloo_training_keeps_ranks_identical(tmp_path):
    from humanparse_d2.engine import launch

    launch(_worker, 2, dist_url="auto", args=(str(tmp_path),))
    r0 = torch.load(tmp_path / "rank0.pt", weights_only=True)
    r1 = torch.load(tmp_path / "rank1.pt", weights_only=True)
    assert r0["d_iters"] == r1["d_iters"] == [0, 2]
    assert torch.isfinite(torch.tensor(r0["loss"]))
    for part in ("g", "d"):
        for k, v in r0[part].items():
            torch.testing.assert_close(v, r1[part][k], msg=f"{part}.{k} differs between ranks")
