"""humanparse_d2.engine.launch: workers close their process group after main_func returns."""

import pytest
import torch.distributed as dist

from humanparse_d2.engine.launch import _run_then_close


def test_worker_closes_its_process_group(tmp_path):
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'store'}", world_size=1, rank=0
    )
    try:
        assert _run_then_close(lambda a, b: a + b, 2, 3) == 5
        assert not dist.is_initialized()
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


def test_an_exception_propagates_and_skips_the_closing(tmp_path):
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'store'}", world_size=1, rank=0
    )
    try:

        def fail():
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError, match="boom"):
            _run_then_close(fail)
        assert dist.is_initialized()
    finally:
        dist.destroy_process_group()
