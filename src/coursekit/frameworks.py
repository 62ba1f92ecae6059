"""Find and import the two frameworks lazily, with a clear message when one is missing."""

from __future__ import annotations

import importlib
import importlib.util
import sys
from types import ModuleType

# Canonical names used across the course, with the module each one imports and how to install it.
FRAMEWORKS: dict[str, tuple[str, str]] = {
    "torch": ("torch", "pip install torch==2.13.*  (CPU build; see the course README)"),
    "tensorflow": ("tensorflow", "pip install tensorflow-cpu==2.21.*  (macOS: tensorflow==2.21.*)"),
}
ALIASES = {"torch": "torch", "pytorch": "torch", "tensorflow": "tensorflow", "tf": "tensorflow"}


class FrameworkMissing(ImportError):
    """Raised when a function needs a framework that is not installed in this environment."""


def canonical(framework: str) -> str:
    """Return 'torch' or 'tensorflow' for any accepted spelling, or raise a ValueError naming them."""
    key = str(framework).strip().lower()
    if key not in ALIASES:
        raise ValueError(
            f"unknown framework {framework!r}: expected one of {', '.join(sorted(ALIASES))}"
        )
    return ALIASES[key]


def module_available(module: str) -> bool:
    """Whether a module can be imported here, found without importing it."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def available(framework: str) -> bool:
    """Whether the framework can be imported here, found without importing it."""
    return module_available(FRAMEWORKS[canonical(framework)][0])


def install_hint(framework: str) -> str:
    """The install command the course recommends for a framework."""
    return FRAMEWORKS[canonical(framework)][1]


def require(framework: str) -> ModuleType:
    """Import and return the framework's module, or raise FrameworkMissing saying how to install it."""
    name = canonical(framework)
    module, install = FRAMEWORKS[name]
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise FrameworkMissing(
            f"{name} is not installed in this Python environment ({sys.executable}), "
            f"and this step needs it. Install it with: {install}. "
            f"(Import error: {err})"
        ) from err


def version(framework: str) -> str | None:
    """The installed version of the framework, read from package metadata without importing it."""
    from importlib import metadata

    name = canonical(framework)
    if not available(name):
        return None
    dists = ("torch",) if name == "torch" else ("tensorflow", "tensorflow-cpu", "tensorflow-macos")
    for dist in dists:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return "unknown"
