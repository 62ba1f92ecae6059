"""Find and import the two frameworks lazily, with a clear message when one is missing."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType

from coursekit.course import framework


class FrameworkMissing(ImportError):
    """Raised when a function needs a framework that is not installed in this environment."""


def canonical(name: str) -> str:
    """Return 'torch' or 'tensorflow' (the module to import) for any accepted spelling, else ValueError."""
    return framework(name).key


def module_available(module: str) -> bool:
    """Whether a module can be imported here, found without importing it."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def available(name: str) -> bool:
    """Whether the framework can be imported here, found without importing it."""
    return module_available(canonical(name))


def install_hint(name: str) -> str:
    """The install command the course recommends for a framework."""
    return framework(name).install


def require(name: str) -> ModuleType:
    """Import and return the framework's module, or raise FrameworkMissing saying how to install it."""
    fw = framework(name)
    if fw.key == "tensorflow":
        from coursekit.notices import quiet_tensorflow_startup

        quiet_tensorflow_startup()
    try:
        return importlib.import_module(fw.key)
    except ImportError as err:
        raise FrameworkMissing(
            f"{fw.key} is not installed in this Python environment ({sys.executable}), "
            f"and this step needs it. Install it with: {fw.install}. "
            f"(Import error: {err})"
        ) from err


def version(name: str) -> str | None:
    """The installed version of the framework, read from package metadata without importing it."""
    from importlib import metadata

    key = canonical(name)
    if not available(key):
        return None
    dists = ("torch",) if key == "torch" else ("tensorflow", "tensorflow-cpu", "tensorflow-macos")
    for dist in dists:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"
