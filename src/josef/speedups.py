"""Which implementation of josef's hot paths runs: the C accelerator or pure Python.

``josef._core._speedups`` is built at install time when a compiler is there; without one josef installs
and runs on its pure-Python code, which gives the same results (tests compare the two). Set
``JOSEF_NO_SPEEDUPS=1`` to force pure Python, ``JOSEF_WARN_PURE_PYTHON=1`` to be warned at import
when the accelerator is missing. ``josef --version`` prints :data:`DESCRIPTION`.
"""

from __future__ import annotations

import os
import warnings
from types import ModuleType

__all__ = ["AVAILABLE", "DESCRIPTION", "module"]


def _load() -> tuple[ModuleType | None, str]:
    if os.environ.get("JOSEF_NO_SPEEDUPS"):
        return None, "pure Python (JOSEF_NO_SPEEDUPS is set)"
    try:
        import josef._core._speedups as _speedups
    except ImportError as exc:
        return None, f"pure Python (the C accelerator josef._core._speedups is not built: {exc})"
    return _speedups, "C accelerator"


module, DESCRIPTION = _load()
AVAILABLE = module is not None  # whether send(), murmur2 and batch encoding run in C

if not AVAILABLE and os.environ.get("JOSEF_WARN_PURE_PYTHON"):
    warnings.warn(f"josef runs {DESCRIPTION}: expect about half the throughput", RuntimeWarning, stacklevel=2)
