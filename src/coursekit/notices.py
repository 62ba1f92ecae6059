"""Keep TensorFlow's C++ start-up notices out of notebooks and terminals, unless the learner asks for them.

While `import tensorflow` runs, TensorFlow's C++ core writes a few notices straight to the process's
stderr (file descriptor 2), before its logging is set up, so TF_CPP_MIN_LOG_LEVEL cannot silence
them: "All log messages before absl::InitializeLog() ...", "oneDNN custom operations are on ..."
(twice) and "This TensorFlow binary is optimized to use available CPU instructions ...". Jupyter
shows anything on descriptor 2 as a red error block, so a learner sees an error where nothing is
wrong. Module 00 prints them once and explains them. oneDNN itself stays on: these are notices only.
"""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import os
import re
import sys
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import ModuleType

# The start-up notices, line by line; anything else written during the import is passed through.
STARTUP_NOTICES = re.compile(
    r"WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|I\d{4} [\d:. ]+\d+ (port|cpu_feature_guard)\.cc:\d+\] "
    r"|To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags"
)


@contextmanager
def filtered_stderr(drop: re.Pattern[str] = STARTUP_NOTICES) -> Iterator[None]:
    """Hold back what the process writes to descriptor 2 during the block; pass on every line `drop`
    does not match (to sys.stderr, which in Jupyter is the cell's stderr)."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as held:
        os.dup2(held.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            held.seek(0)
            lines = held.read().decode("utf-8", errors="replace").splitlines(keepends=True)
            kept = "".join(line for line in lines if not drop.match(line))
            if kept:
                sys.stderr.write(kept)


class _QuietLoader(importlib.abc.Loader):
    """Runs TensorFlow's own loader with its start-up notices held back."""

    def __init__(self, inner: importlib.abc.Loader) -> None:
        self.inner = inner

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.inner.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _QuietTensorFlowFinder)]  # one import
        with filtered_stderr():
            self.inner.exec_module(module)


class _QuietTensorFlowFinder(importlib.abc.MetaPathFinder):
    """Finds `tensorflow` with the other finders and wraps its loader in _QuietLoader. A look-up
    without an import (coursekit's `available("tf")`) leaves it in place for the real import."""

    def find_spec(
        self, name: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if name != "tensorflow":
            return None
        for finder in sys.meta_path:
            spec = None if finder is self else finder.find_spec(name, path, target)
            if spec is not None:
                if spec.loader is not None:
                    spec.loader = _QuietLoader(spec.loader)
                return spec
        return None


def quiet_tensorflow_startup() -> None:
    """Keep TensorFlow's start-up notices (and its C++ INFO logs) out of sight, unless the learner set
    TF_CPP_MIN_LOG_LEVEL themselves or TensorFlow is already imported.

    Call it before `import tensorflow`; the import itself stays an ordinary import.
    """
    if "TF_CPP_MIN_LOG_LEVEL" in os.environ or "tensorflow" in sys.modules:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "1"  # C++ INFO off; warnings and errors still show
    if not any(isinstance(finder, _QuietTensorFlowFinder) for finder in sys.meta_path):
        sys.meta_path.insert(0, _QuietTensorFlowFinder())
