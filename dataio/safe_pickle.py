"""Load the project's pickled pandas DataFrames without letting a file run code.

A pickle names the callables it wants invoked, and ``pickle.load`` imports and
calls them, so a hostile ``.pkl`` can run ``os.system``. Here every global a
file asks for is mapped to its current location first (the way pandas' own
``pickle_compat`` does for pandas 1.x layouts such as
``pandas.core.indexes.numeric.Int64Index``), and only that final location is
checked against an allowlist, before anything is imported or called:

* exact ``(module, name)`` pairs for builtins, ``datetime``, ``copyreg``,
  numpy's array/dtype/scalar reconstructors and pandas' unpickle helpers
  (plus the Cython-generated ``pandas._libs.*.__pyx_unpickle_*``);
* a *class* named in ``pandas``, ``pandas.arrays``, ``pandas.core.*`` or
  ``pandas._libs.*`` that subclasses a DataFrame building block (NDFrame,
  Index, block managers, extension arrays and dtypes, Timestamp, offsets...).

``builtins.getattr`` stays refused even though the stdlib pickles
``zoneinfo.ZoneInfo`` through it: with it a file can walk from any allowed
class to ``os.system``. Time-zone-aware columns using zoneinfo are therefore
refused; naive datetimes and ``datetime.timezone`` (UTC) load.

Not covered: allowed pandas classes can still be built half-initialised (an
empty NEWOBJ), and using such an object may crash the interpreter. That is a
denial of service, not code execution, and ``pandas.read_pickle`` shares it.
"""
import _compat_pickle
import importlib
import os
import pickle

import numpy as np
import pandas as pd
from pandas._libs.arrays import NDArrayBacked
from pandas._libs.sparse import SparseIndex
from pandas._libs.tslibs import BaseOffset
from pandas.api.extensions import ExtensionArray, ExtensionDtype
from pandas.core.generic import NDFrame
from pandas.core.indexes.frozen import FrozenList
from pandas.core.internals.blocks import Block
from pandas.core.internals.managers import BaseBlockManager

try:
    from pandas.compat import pickle_compat as _pd_compat
except ImportError:  # pandas moved its private module: no layout fix-ups then
    _pd_compat = None

__all__ = ["read_pickle_safely", "UnsafePickleError", "CorruptPickleError"]


class UnsafePickleError(ValueError):
    """The file asks for a global outside the allowlist; it was neither imported nor called."""


class CorruptPickleError(ValueError):
    """The file is not a complete, readable pickle."""


# Private in pandas (3.1.1 has it); without it only current layouts load.
_PANDAS_MOVED = getattr(_pd_compat, "_class_locations_map", {})
# pandas' compat Unpickler is pure Python; it is the fallback, not the default.
_CompatBase = getattr(_pd_compat, "Unpickler", pickle._Unpickler)

# numpy 2 renamed numpy.core to numpy._core and warns on the old path, while
# numpy 1.x files (ours included) still name numpy.core; use whichever is real.
_NP_CORE = "numpy._core" if int(np.__version__.split(".")[0]) >= 2 else "numpy.core"

_ALLOWED = frozenset(
    [("builtins", n) for n in (
        "bool", "int", "float", "complex", "str", "bytes", "bytearray",
        "list", "tuple", "dict", "set", "frozenset", "slice", "range", "object")]
    + [("datetime", n) for n in (
        "date", "time", "datetime", "timedelta", "timezone")]
    + [
        ("copyreg", "_reconstructor"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        (_NP_CORE + ".multiarray", "_reconstruct"),
        (_NP_CORE + ".multiarray", "scalar"),
        (_NP_CORE + ".numeric", "_frombuffer"),  # protocol 5 array buffers
        ("pandas", "NA"),
        ("pandas._libs.missing", "NA"),
        ("pandas._libs.internals", "_unpickle_block"),
        ("pandas._libs.tslibs.nattype", "_nat_unpickle"),
        ("pandas._libs.tslibs.timestamps", "_unpickle_timestamp"),
        ("pandas._libs.tslibs.timedeltas", "_timedelta_unpickle"),
        ("pandas.core.indexes.base", "_new_Index"),
        ("pandas.core.indexes.datetimes", "_new_DatetimeIndex"),
        ("pandas.core.indexes.timedeltas", "_new_TimedeltaIndex"),
        ("pandas.core.indexes.period", "_new_PeriodIndex"),
        ("pandas.core.indexes.interval", "_new_IntervalIndex"),
    ]
)

# Modules whose classes may be loaded, and what those classes must be: the
# module alone is not enough (pandas.ExcelWriter and pandas.HDFStore open
# files, and __module__ says "pandas" for them as for DataFrame).
_PANDAS_MODULE_PREFIXES = ("pandas.core.", "pandas._libs.")
_PANDAS_BASES = (
    NDFrame, pd.Index, BaseBlockManager, Block, ExtensionArray, ExtensionDtype,
    NDArrayBacked, SparseIndex, FrozenList, BaseOffset,
    pd.Timestamp, pd.Timedelta, pd.Period, pd.Interval,
)


def _final_location(module, name):
    module, name = _PANDAS_MOVED.get((module, name), (module, name))
    # Python 2 names (__builtin__, copy_reg) as the stdlib unpickler maps them.
    if (module, name) in _compat_pickle.NAME_MAPPING:
        module, name = _compat_pickle.NAME_MAPPING[(module, name)]
    elif module in _compat_pickle.IMPORT_MAPPING:
        module = _compat_pickle.IMPORT_MAPPING[module]
    if module.startswith(("numpy.core.", "numpy._core.")):
        module = _NP_CORE + "." + module.split(".", 2)[2]
    return module, name


def _resolve(module, name):
    """The object a final (module, name) stands for, or None if refused."""
    exact = (module, name) in _ALLOWED or (
        module.startswith("pandas._libs.") and name.startswith("__pyx_unpickle_"))
    pandas_module = module in ("pandas", "pandas.arrays") or module.startswith(
        _PANDAS_MODULE_PREFIXES)
    # Refuse before importing; dotted names would walk attributes (X.__init__...).
    if not (exact or pandas_module) or not name.isidentifier():
        return None
    try:
        obj = getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        if exact:
            raise
        return None
    if exact or (isinstance(obj, type) and issubclass(obj, _PANDAS_BASES)):
        return obj
    return None


class _Guard:
    def __init__(self, file, path):
        super().__init__(file)
        self._path = path

    def _latin1_encode(self, text, encoding="latin1"):
        if encoding not in ("latin1", "latin-1"):
            raise UnsafePickleError(
                f"{self._path}: refused _codecs.encode with encoding {encoding!r}")
        return text.encode("latin1")

    def find_class(self, module, name):
        final = _final_location(module, name)
        # Protocol 0-2 pickles spell bytes as _codecs.encode(text, "latin1");
        # any other codec name would let the file pick what gets imported.
        obj = self._latin1_encode if final == ("_codecs", "encode") else _resolve(*final)
        if obj is None:
            asked = f"{module}.{name}"
            if final != (module, name):
                asked += f" (now {final[0]}.{final[1]})"
            raise UnsafePickleError(
                f"{self._path}: refused to load global {asked}; only the pandas/numpy "
                "classes a DataFrame needs are allowed")
        return obj


class _FastUnpickler(_Guard, pickle.Unpickler):
    """The C unpickler: handles current files and pandas 1.x class moves."""


class _CompatUnpickler(_Guard, _CompatBase):
    """pandas' pure-Python unpickler, for its REDUCE/NEWOBJ fix-ups of old files."""


def read_pickle_safely(path):
    """Unpickle ``path`` allowing only what a pandas/numpy DataFrame needs.

    Returns the loaded object (callers check that it is a DataFrame).
    Raises FileNotFoundError if ``path`` is missing, UnsafePickleError if
    the file asks for any other global (checked before that global is
    imported or called), CorruptPickleError if it is truncated or garbage.
    """
    path = os.fspath(path)
    with open(path, "rb") as handle:
        error = None
        for unpickler in (_FastUnpickler, _CompatUnpickler):
            handle.seek(0)
            try:
                return unpickler(handle, path).load()
            except UnsafePickleError:
                raise
            except (AttributeError, ImportError, TypeError, ValueError) as exc:
                error = exc  # what pandas.read_pickle retries with its compat class
            except Exception as exc:  # noqa: BLE001 - garbage fails in many ways
                error = exc
                break
    raise CorruptPickleError(
        f"{path}: pickle file is corrupt or truncated "
        f"({type(error).__name__}: {error})") from error
