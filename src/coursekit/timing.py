"""Timing done right: warm up, synchronise the device, repeat adaptively, report median and spread.

GPUs run asynchronously, so a timer that does not wait for the device measures only how long it
took to *queue* the work. `benchmark` waits (CUDA/MPS for torch, `sync_devices` for TensorFlow)
at the end of every timed block.
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

from coursekit.frameworks import canonical, require
from coursekit.tables import Table


def format_seconds(seconds: float) -> str:
    """Human units for a duration: '812 ns', '3.40 µs', '1.27 ms', '2.05 s'."""
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)):
        if abs(seconds) >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def synchronizer(framework: str | None, device: str | None = None) -> Callable[[], None]:
    """A function that blocks until the framework's pending device work is done (no-op on CPU).

    framework: None (plain Python/NumPy), 'torch' or 'tensorflow'.
    device: torch's device string ('cuda', 'cuda:1', 'mps', 'cpu'); None means every CUDA device
    torch has already started. TensorFlow always synchronises all of its devices.
    """
    if framework is None:
        return lambda: None
    name = canonical(framework)
    if name == "tensorflow":
        tf = require("tensorflow")
        return tf.test.experimental.sync_devices
    torch = require("torch")
    kind = (device or "").split(":")[0]
    if kind == "mps":
        return torch.mps.synchronize
    if kind == "cuda" or (not kind and torch.cuda.is_available() and torch.cuda.is_initialized()):
        return torch.cuda.synchronize
    return lambda: None


@dataclass(frozen=True)
class BenchmarkResult:
    """Per-call time of one benchmarked function: median and interquartile range over timed blocks."""

    label: str
    median: float  # seconds per call
    q1: float
    q3: float
    blocks: int  # timed blocks
    number: int  # calls per block
    warmup: int

    @property
    def iqr(self) -> float:
        """Spread: the interquartile range of the per-call times of the blocks, in seconds."""
        return self.q3 - self.q1

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, for saved results."""
        return {**asdict(self), "iqr": self.iqr}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchmarkResult:
        """Rebuild a result from `as_dict()` output (e.g. one measured in another process)."""
        return cls(**{k: v for k, v in data.items() if k != "iqr"})

    def __str__(self) -> str:
        return (
            f"{self.label}: {format_seconds(self.median)} per call "
            f"(IQR {format_seconds(self.iqr)}, {self.blocks} blocks × {self.number} calls)"
        )


class Timer:
    """Wall-clock timer for a block of code; waits for the device before reading the clock.

    >>> with Timer() as t:
    ...     work()
    >>> t.elapsed  # seconds
    """

    def __init__(self, framework: str | None = None, device: str | None = None) -> None:
        self._sync = synchronizer(framework, device)
        self.elapsed: float = math.nan

    def __enter__(self) -> Timer:
        self._sync()
        self._start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self._sync()
        self.elapsed = time.perf_counter() - self._start

    def __str__(self) -> str:
        return format_seconds(self.elapsed)


def _positive_int(name: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer ≥ {minimum}, got {value!r}")
    return value


def benchmark(
    fn: Callable[..., Any],
    *args: Any,
    label: str | None = None,
    framework: str | None = None,
    device: str | None = None,
    warmup: int = 3,
    min_time: float = 0.5,
    min_blocks: int = 7,
    max_blocks: int = 1000,
    number: int | None = None,
) -> BenchmarkResult:
    """Time `fn(*args)`: `warmup` untimed calls, then timed blocks of `number` calls each.

    Blocks repeat until at least `min_time` seconds and `min_blocks` blocks have been timed (or
    `max_blocks` is reached). `number` defaults to enough calls to make a block last about
    min_time / 20, so that very fast functions are not lost in the clock's resolution.
    The device is synchronised after the warm-up and after every block.
    """
    if not callable(fn):
        raise TypeError(f"benchmark needs a function to call, got {type(fn).__name__}: {fn!r}")
    warmup = _positive_int("warmup", warmup, 0)
    min_blocks = _positive_int("min_blocks", min_blocks, 1)
    max_blocks = _positive_int("max_blocks", max_blocks, min_blocks)
    if number is not None:
        number = _positive_int("number", number, 1)
    if not isinstance(min_time, (int, float)) or not min_time >= 0:
        raise ValueError(f"min_time must be a number of seconds ≥ 0, got {min_time!r}")
    sync = synchronizer(framework, device)

    for _ in range(warmup):
        fn(*args)
    sync()
    if number is None:
        start = time.perf_counter()
        fn(*args)
        sync()
        once = max(time.perf_counter() - start, 1e-9)
        number = max(1, int(min_time / 20 / once))

    per_call: list[float] = []
    spent = 0.0
    while len(per_call) < max_blocks and (len(per_call) < min_blocks or spent < min_time):
        start = time.perf_counter()
        for _ in range(number):
            fn(*args)
        sync()
        block = time.perf_counter() - start
        spent += block
        per_call.append(block / number)

    q1, median, q3 = statistics.quantiles(per_call, n=4) if len(per_call) > 1 else per_call * 3
    return BenchmarkResult(
        label or str(getattr(fn, "__name__", "fn")), median, q1, q3, len(per_call), number, warmup
    )


def compare(results: Iterable[BenchmarkResult], baseline: str | None = None) -> Table:
    """A side-by-side table of results, with each one's speed relative to `baseline` (default: first)."""
    results = list(results)
    if not results:
        raise ValueError("compare needs at least one BenchmarkResult, got none")
    labels = [r.label for r in results]
    if baseline is None:
        base = results[0]
    elif baseline in labels:
        base = results[labels.index(baseline)]
    else:
        raise ValueError(f"baseline {baseline!r} is not among the results: {', '.join(labels)}")
    rows = [
        [r.label, format_seconds(r.median), format_seconds(r.iqr), f"{r.blocks}×{r.number}",
         f"{base.median / r.median:.2f}×"]
        for r in results
    ]
    note = f"speed: how many times faster than '{base.label}' (median per call; above 1 is faster)"
    return Table(["what", "median", "IQR", "blocks×calls", "speed"], rows, note)
