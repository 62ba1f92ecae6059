"""Argument checks shared by coursekit's public functions: one clear error naming the value and what is accepted.

Each check returns the value in its plain Python form (a NumPy integer becomes an int), so callers
write `seed = validate.seed(seed)` and use the result. A wrong *type* raises `WrongType`, which is
both a TypeError and a ValueError, so either `except` clause catches it; a value out of range raises
a plain ValueError.
"""

from __future__ import annotations

import math
import numbers
import operator
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

SEED_LIMIT = 2**32  # NumPy's legacy seeding and scikit-learn accept [0, 2**32)


class WrongType(TypeError, ValueError):
    """A value of the wrong type for a coursekit argument (catchable as TypeError or ValueError)."""


def show(value: Any, limit: int = 80) -> str:
    """repr() of a value, shortened so that an error about a big array stays one readable line."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def a_type(value: Any) -> str:
    """'a str', 'an int': the type of a value, for error messages."""
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiouAEIOU' else 'a'} {name}"


def integer(
    name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None, expected: str = ""
) -> int:
    """An int (NumPy integers too, never a bool or a float) within [minimum, maximum].

    expected: how the error describes what is accepted (default 'an integer ≥ minimum').
    """
    expected = expected or f"an integer{_range_text(minimum, maximum)}"
    if isinstance(value, (bool, float)):
        raise WrongType(f"{name} must be {expected}, got {show(value)}")
    try:
        result = operator.index(value)
    except TypeError:
        raise WrongType(f"{name} must be {expected}, got {show(value)} ({a_type(value)})") from None
    if (minimum is not None and result < minimum) or (maximum is not None and result > maximum):
        raise ValueError(f"{name} must be {expected}, got {show(value)}")
    return result


def _range_text(minimum: float | None, maximum: float | None) -> str:
    low, high = (None if v is None else f"{v:,}" if isinstance(v, int) else f"{v:g}" for v in (minimum, maximum))
    if low is not None and high is not None:
        return f" from {low} to {high}"
    if low is not None:
        return f" ≥ {low}"
    return f" ≤ {high}" if high is not None else ""


def number(
    name: str, value: Any, *, minimum: float | None = None, maximum: float | None = None, unit: str = "", hint: str = ""
) -> float:
    """A finite real number (int, float or NumPy scalar, never a bool) within [minimum, maximum]."""
    what = f"a number{' of ' + unit if unit else ''}{_range_text(minimum, maximum)}"
    extra = f" ({hint})" if hint else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise WrongType(f"{name} must be {what}, got {show(value)} ({a_type(value)}){extra}")
    try:
        result = float(value)
    except OverflowError:  # an int too big for a float
        result = math.inf
    if (
        not math.isfinite(result)
        or (minimum is not None and result < minimum)
        or (maximum is not None and result > maximum)
    ):
        raise ValueError(f"{name} must be {what}, got {show(value)}{extra}")
    return result


def flag(name: str, value: Any) -> bool:
    """True or False; a string such as 'no' is refused."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise WrongType(f"{name} must be True or False, got {show(value)} ({a_type(value)})")


def optional_flag(name: str, value: Any) -> bool | None:
    """True, False, or None where None means 'the default'."""
    if value is None:
        return None
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise WrongType(f"{name} must be True, False or None (the default), got {show(value)} ({a_type(value)})")


def seed(value: Any, name: str = "seed") -> int:
    """A random seed: an integer in [0, 2**32), the range NumPy and scikit-learn accept."""
    return integer(name, value, minimum=0, maximum=SEED_LIMIT - 1, expected="an integer in [0, 2**32)")


def text(name: str, value: Any, *, example: str = "") -> str:
    """A non-blank string."""
    hint = f", e.g. {example!r}" if example else ""
    if not isinstance(value, str):
        raise WrongType(f"{name} must be a string{hint}, got {show(value)} ({a_type(value)})")
    if not value.strip():
        raise ValueError(f"{name} must be a non-empty string{hint}, got {value!r}")
    return value


def choice(name: str, value: Any, accepted: Iterable[str]) -> str:
    """One of the accepted strings, exactly."""
    accepted = list(accepted)
    if not isinstance(value, str) or value not in accepted:
        raise ValueError(f"unknown {name} {show(value)}: expected one of {', '.join(accepted)}")
    return value


def names(name: str, value: Any) -> list[str]:
    """One string or an iterable of strings, as a list: 'torch' is one name, not five letters."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, (bytes, Mapping)) or not isinstance(value, Iterable):
        raise WrongType(f"{name} must be a name or a list of names, got {show(value)} ({a_type(value)})")
    items = list(value)
    for item in items:
        if not isinstance(item, str):
            raise WrongType(f"{name} must hold names (strings), got {show(item)} ({a_type(item)}) in it")
    return items


def path(name: str, value: Any) -> Path:
    """A file-system path given as a str or a Path (os.PathLike)."""
    if isinstance(value, (str, os.PathLike)) and str(value).strip():
        return Path(value)
    raise WrongType(f"{name} must be a path (a str or pathlib.Path), got {show(value)} ({a_type(value)})")


def mapping(name: str, value: Any, *, example: str = "") -> Mapping[Any, Any]:
    """A dict-like value."""
    if isinstance(value, Mapping):
        return value
    hint = f", e.g. {example}" if example else ""
    raise WrongType(f"{name} must be a dict{hint}, got {show(value)} ({a_type(value)})")
