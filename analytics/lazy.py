"""What a run needs only after reading, made ready in the background while the log is read.

Importing pandas (about half a second) and building ua-parser's matchers (a fifth of one) hold
the GIL throughout, and the read stage needs neither: it spends most of its time in numpy and
pyarrow kernels, which let go of the GIL. So `start_in_background` begins them as the reading
starts, and the modules that count with pandas name it through `pandas` below, which imports
the real module when an attribute is first looked up (waiting for an import under way).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from types import ModuleType


class _OnFirstUse:
    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str):
        module: ModuleType = importlib.import_module(self._name)
        return getattr(module, attribute)


pandas = _OnFirstUse("pandas")


def import_pandas() -> None:
    importlib.import_module("pandas")


def start_in_background(*jobs: Callable[[], object]) -> None:
    """Run each job in a daemon thread of its own (each must be safe to run again later)."""
    for job in jobs:
        threading.Thread(target=job, daemon=True).start()
