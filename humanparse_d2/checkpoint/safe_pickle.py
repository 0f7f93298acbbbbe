"""Unpickling that cannot run code: only numpy arrays, dtypes, scalars and plain containers.

``pickle.load`` calls whatever callable a file names (``os.system``, ``builtins.exec``, ...), so a
``.pkl`` weight file or a cache file written by someone else runs their code on load. The model-zoo
``.pkl`` weights of detectron2 (and Detectron/Caffe2) hold only dicts of numpy arrays plus a few
strings and numbers, and the dataset-dict cache holds dicts, lists, strings, numbers and
``BoxMode`` values: :class:`RestrictedUnpickler` admits exactly those globals and refuses every
other one with :class:`UnsafePickleError` naming it.
"""

import _compat_pickle
import io
import pickle
from typing import Any, BinaryIO

__all__ = ["UnsafePickleError", "RestrictedUnpickler", "safe_load", "safe_loads", "ALLOWED_GLOBALS"]

# (module, name) pairs a weight or cache file may reference. numpy moved its internals from
# numpy.core to numpy._core in 2.0; files written by either version name their own spelling.
_NUMPY_INTERNALS = (
    "numpy.core.multiarray",
    "numpy._core.multiarray",
    "numpy.core.numeric",
    "numpy._core.numeric",
)
ALLOWED_GLOBALS: frozenset[tuple[str, str]] = frozenset(
    [(m, n) for m in _NUMPY_INTERNALS for n in ("_reconstruct", "scalar", "_frombuffer")]
    + [
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("collections", "OrderedDict"),
        ("builtins", "set"),
        ("builtins", "frozenset"),
        ("builtins", "complex"),
        ("builtins", "slice"),
        ("builtins", "bytearray"),
        ("_codecs", "encode"),  # protocol-2 pickles spell bytes as _codecs.encode(str, "latin1")
        ("detectron2.structures.boxes", "BoxMode"),
    ]
)
# numpy pickles dtypes of concrete scalar types by class (e.g. numpy.float32 inside a dtype's
# reduce); those classes are inert constructors of numbers.
_NUMPY_SCALAR_TYPES = frozenset(
    "bool_ int8 int16 int32 int64 uint8 uint16 uint32 uint64 float16 float32 float64 longdouble "
    "complex64 complex128 str_ bytes_".split()
)


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle referenced a global outside :data:`ALLOWED_GLOBALS` (it could run code)."""


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` whose ``find_class`` admits only :data:`ALLOWED_GLOBALS`."""

    def __init__(self, file: BinaryIO, *, source: str = "<bytes>", **kwargs):
        kwargs.setdefault("encoding", "latin1")  # Python-2 pickles of the Caffe2 model zoo
        super().__init__(file, **kwargs)
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        # Python-2 pickles name "__builtin__"/"copy_reg"; check the Python-3 names they map to
        module, name = _compat_pickle.NAME_MAPPING.get((module, name), (module, name))
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if (module, name) in ALLOWED_GLOBALS or (module == "numpy" and name in _NUMPY_SCALAR_TYPES):
            return super().find_class(module, name)
        raise UnsafePickleError(
            f"{self.source}: refusing to unpickle {module}.{name}: only numpy arrays, dtypes and plain "
            "containers are allowed in weight and cache files (a pickle can run arbitrary code). "
            "Convert the file to .pth (torch.save of a state dict) if you trust it."
        )

    def persistent_load(self, pid):  # torch-style persistent ids never appear in numpy pickles
        raise UnsafePickleError(f"{self.source}: persistent id {pid!r} is not allowed")


def safe_load(f: BinaryIO, *, source: str = "<file>") -> Any:
    """``pickle.load(f)`` through :class:`RestrictedUnpickler`."""
    return RestrictedUnpickler(f, source=source).load()


def safe_loads(data: bytes, *, source: str = "<bytes>") -> Any:
    """``pickle.loads(data)`` through :class:`RestrictedUnpickler`."""
    return RestrictedUnpickler(io.BytesIO(data), source=source).load()
