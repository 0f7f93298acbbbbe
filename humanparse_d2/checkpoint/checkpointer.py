"""detectron2's ``DetectionCheckpointer`` made safe to kill and safe to load.

:class:`HumanParseCheckpointer` differs from ``DetectionCheckpointer`` in four ways:

- **atomic writes**: a checkpoint and ``last_checkpoint`` go to a temporary file that is flushed
  and renamed (:mod:`humanparse_d2.utils.atomic`), so a kill during a save never leaves a
  truncated file under the final name;
- **finite weights only**: a model with a NaN/Inf parameter or buffer is never written (it would
  become the resume point of every later ``--resume``): :class:`NonFiniteCheckpointError`;
- **resume fallback**: ``resume_or_load(resume=True)`` tries the file named by ``last_checkpoint``
  and, when that is missing, empty or does not load, every other ``*.pth`` of ``OUTPUT_DIR``
  newest first, logging which one it took;
- **safe loading**: ``.pth`` files are read with ``torch.load(weights_only=True)`` and detectron2
  ``.pkl`` weights with :class:`~humanparse_d2.checkpoint.safe_pickle.RestrictedUnpickler`
  (numpy arrays and plain containers only) instead of full pickle.

It also keeps the incompatible keys of the last load, so callers can tell (with
:func:`warn_untrained`) when heads run with weights that were never trained.
"""

import logging
import os
import time
from typing import Any

import torch
from detectron2.checkpoint import DetectionCheckpointer
from detectron2.utils.file_io import PathManager

from humanparse_d2.utils.atomic import atomic_open, atomic_torch_save

from .safe_pickle import safe_load

__all__ = [
    "HumanParseCheckpointer",
    "NonFiniteCheckpointError",
    "NoLoadableCheckpointError",
    "WeightsUnavailableError",
    "is_backbone_only_weights",
    "warn_untrained",
]

logger = logging.getLogger(__name__)


class NonFiniteCheckpointError(FloatingPointError):
    """The model to be saved has non-finite weights; nothing was written."""


class NoLoadableCheckpointError(RuntimeError):
    """``--resume`` found checkpoints in OUTPUT_DIR but none of them loads."""


class WeightsUnavailableError(OSError):
    """Remote weights (``detectron2://``, ``https://``, ...) could not be fetched (offline?)."""


def first_non_finite(state: dict[str, Any]) -> str | None:
    """Name of the first floating-point tensor in ``state`` holding NaN or Inf, else None."""
    for k, v in state.items():
        if torch.is_tensor(v) and v.is_floating_point() and not bool(torch.isfinite(v).all()):
            return k
    return None


class HumanParseCheckpointer(DetectionCheckpointer):
    """``DetectionCheckpointer`` with atomic, finite-only saves, resume fallback and safe loading."""

    def __init__(self, model, save_dir: str = "", *, save_to_disk=None, **checkpointables):
        super().__init__(model, save_dir, save_to_disk=save_to_disk, **checkpointables)
        self.resumed_from: str | None = None  # the file --resume actually loaded
        self.last_incompatible = None  # _IncompatibleKeys of the last load (None: nothing loaded)
        self.last_save_seconds: float | None = None

    # ------------------------------------------------------------------ saving
    def save(self, name: str, **kwargs: Any) -> None:
        if not self.save_dir or not self.save_to_disk:
            return
        model_state = self.model.state_dict()
        bad = first_non_finite(model_state)
        if bad is not None:
            raise NonFiniteCheckpointError(
                f"not saving checkpoint {name}: parameter {bad!r} holds NaN/Inf (training diverged); "
                f"the last good checkpoint in {self.save_dir} stays the resume point"
            )
        data = {"model": model_state}
        for key, obj in self.checkpointables.items():
            data[key] = obj.state_dict()
        data.update(kwargs)
        basename = f"{name}.pth"
        save_file = os.path.join(self.save_dir, basename)
        self.logger.info("Saving checkpoint to %s", save_file)
        t0 = time.perf_counter()
        atomic_torch_save(data, save_file)
        self.last_save_seconds = time.perf_counter() - t0
        self.tag_last_checkpoint(basename)

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        with atomic_open(os.path.join(self.save_dir, "last_checkpoint"), "w") as f:
            f.write(last_filename_basename)

    # ----------------------------------------------------------------- resuming
    def resume_candidates(self) -> list[str]:
        """Checkpoint files to resume from, best first: the one ``last_checkpoint`` names (when
        it names an existing file), then every other ``*.pth`` in ``save_dir``, newest first."""
        if not self.save_dir or not os.path.isdir(self.save_dir):
            return []
        files = [
            os.path.join(self.save_dir, f)
            for f in os.listdir(self.save_dir)
            if f.endswith(".pth")
            and not f.startswith(".")
            and os.path.isfile(os.path.join(self.save_dir, f))
        ]
        files.sort(key=lambda p: (os.path.getmtime(p), p), reverse=True)
        tagged = super().get_checkpoint_file() if super().has_checkpoint() else ""
        if tagged and os.path.isfile(tagged) and tagged in files:
            files.remove(tagged)
            files.insert(0, tagged)
        return files

    def has_checkpoint(self) -> bool:
        return (
            self.resumed_from is not None
            or super().has_checkpoint()
            or bool(self.resume_candidates())
        )

    def get_checkpoint_file(self) -> str:
        if self.resumed_from is not None:
            return self.resumed_from
        cands = self.resume_candidates()
        return cands[0] if cands else ""

    def resume_or_load(self, path: str, *, resume: bool = True) -> dict[str, Any]:
        if not resume:
            return self.load(path, checkpointables=[])
        self.resumed_from = None
        self._remove_stale_temporaries()
        self._explain_last_checkpoint()
        cands = self.resume_candidates()
        if not cands:
            return self.load(path, checkpointables=[])
        errors = []
        for i, cand in enumerate(cands):
            try:
                out = self.load(cand)
            except Exception as e:  # noqa: BLE001  (a truncated/corrupt file: try the next one)
                self._parsed_url_during_load = (
                    None  # DetectionCheckpointer.load leaves it set on errors
                )
                errors.append(f"{os.path.basename(cand)}: {type(e).__name__}: {e}")
                logger.warning(
                    "cannot resume from %s (%s: %s); trying an older checkpoint",
                    cand,
                    type(e).__name__,
                    e,
                )
                continue
            self.resumed_from = cand
            if i > 0:
                logger.warning("resumed from %s (the newest checkpoint that loads)", cand)
            else:
                logger.info("resumed from %s", cand)
            return out
        raise NoLoadableCheckpointError(
            f"--resume: none of the {len(cands)} checkpoints in {self.save_dir} loads:\n  "
            + "\n  ".join(errors)
            + "\nMove them away to start from MODEL.WEIGHTS, or run without --resume."
        )

    def _remove_stale_temporaries(self) -> None:
        """Delete ``.<name>.*.tmp`` files that a killed save left behind (nothing saves while a
        run resumes; only the saving process, rank 0, removes them)."""
        if not self.save_to_disk or not self.save_dir or not os.path.isdir(self.save_dir):
            return
        for f in os.listdir(self.save_dir):
            if (
                f.startswith(".")
                and f.endswith(".tmp")
                and (".pth." in f or f.startswith(".last_checkpoint."))
            ):
                try:
                    os.unlink(os.path.join(self.save_dir, f))
                    logger.info("removed %s, left by a save that was interrupted", f)
                except OSError:
                    pass

    def _explain_last_checkpoint(self) -> None:
        f = os.path.join(self.save_dir, "last_checkpoint")
        if not os.path.exists(f):
            return
        tagged = super().get_checkpoint_file()
        if tagged == os.path.join(self.save_dir, ""):
            logger.warning("%s is empty; looking for the newest checkpoint in %s", f, self.save_dir)
        elif not os.path.isfile(tagged):
            logger.warning(
                "%s names %s, which does not exist; looking for the newest checkpoint", f, tagged
            )

    # ------------------------------------------------------------------ loading
    def load(self, path: str, checkpointables: list[str] | None = None) -> dict[str, Any]:
        try:
            return super().load(path, checkpointables)
        except OSError as e:  # URLError, socket errors, a failed download
            self._parsed_url_during_load = None
            if path and "://" in path and not os.path.isfile(path):
                raise WeightsUnavailableError(
                    f"cannot fetch weights {path} ({type(e).__name__}: {e}); offline? Download the file "
                    "on a connected machine and pass its local path (MODEL.WEIGHTS /path/to/file)"
                ) from e
            raise

    def _load_file(self, filename: str) -> dict[str, Any]:
        if filename.endswith(".pkl"):
            return self._load_pkl(filename)
        return super()._load_file(filename)

    def _torch_load(self, f: str) -> dict[str, Any]:
        return torch.load(f, map_location=torch.device("cpu"), weights_only=True)

    def _load_pkl(self, filename: str) -> dict[str, Any]:
        """detectron2 model-zoo / Caffe2 ``.pkl`` weights, read without running code.

        Same format dispatch as ``DetectionCheckpointer._load_file``: a dict with "model" and
        "__author__" is a detectron2 model-zoo file, anything else a Caffe2/Detectron1 blob dict.
        """
        with PathManager.open(filename, "rb") as f:
            data = safe_load(f, source=filename)
        if "model" in data and "__author__" in data:
            self.logger.info("Reading a file from '%s'", data["__author__"])
            return data
        if "blobs" in data:
            data = data["blobs"]
        data = {k: v for k, v in data.items() if not k.endswith("_momentum")}
        return {"model": data, "__author__": "Caffe2", "matching_heuristics": True}

    def _load_model(self, checkpoint):
        self.last_incompatible = super()._load_model(checkpoint)
        return self.last_incompatible


def is_backbone_only_weights(weights: str) -> bool:
    """Whether ``weights`` names a classification backbone (a config's training start: detectron2's
    ``ImageNetPretrained/`` zoo files, ``torchvision://``), not a trained parser. Evaluating or
    drawing such a model only shows its random heads."""
    return weights.startswith("torchvision://") or "ImageNetPretrained/" in weights


def warn_untrained(
    model: torch.nn.Module, weights: str, checkpointer: HumanParseCheckpointer | None
) -> list[str]:
    """Warn when ``model`` runs layers that ``weights`` did not provide; returns their prefixes.

    Empty ``weights`` means every layer is random; ImageNet-only weights (``R-50.pkl``, a timm
    backbone) leave the heads at their initialisation, so the output is noise either way.
    """
    if not weights:
        logger.warning("MODEL.WEIGHTS is empty: the model is untrained and its output is noise")
        return [""]
    inc = getattr(checkpointer, "last_incompatible", None)
    if inc is None:
        return []
    params = {n for n, _ in model.named_parameters()}
    missing = [k for k in inc.missing_keys if k in params]
    prefixes = sorted({".".join(k.split(".")[:2]) for k in missing})
    if prefixes:
        logger.warning(
            "MODEL.WEIGHTS=%s has no weights for %d parameter(s) (%s): these layers were never trained "
            "(ImageNet-only weights?), so the output is not meaningful; pass a trained checkpoint",
            weights,
            len(missing),
            ", ".join(prefixes[:8]) + (" ..." if len(prefixes) > 8 else ""),
        )
    return prefixes
