"""Timing done right: warm up, synchronise the device, repeat adaptively, report median and spread.

GPUs run asynchronously, so a timer that does not wait for the device measures only how long it
took to *queue* the work. `benchmark` waits (CUDA/MPS for torch, `sync_devices` for TensorFlow)
at the end of every timed block.
"""

from __future__ import annotations

import math
import re
import statistics
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from coursekit import validate
from coursekit.frameworks import canonical, require
from coursekit.tables import Table

# Caps that keep a mistyped argument from running for hours.
MAX_MIN_TIME = 60.0  # seconds: min_time above this is refused
MAX_PLANNED = 300.0  # seconds: a benchmark whose timed blocks would take longer stops with an error
# TensorFlow device names: '/CPU:0', '/GPU:1', 'gpu', '/job:localhost/replica:0/task:0/device:GPU:0'.
TF_DEVICE = re.compile(
    r"^(/job:\w+(/replica:\d+)?(/task:\d+)?)?/?(device:)?(?P<kind>cpu|gpu|tpu)(:\d+)?$", re.IGNORECASE
)
TORCH_KINDS = ("cpu", "cuda", "mps", "xla")


def format_seconds(seconds: float) -> str:
    """Human units for a duration: '812 ns', '3.40 µs', '1.27 ms', '2.05 s'."""
    seconds = validate.number("seconds", seconds, minimum=0)
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
        if device is not None:
            raise ValueError(
                f"device {validate.show(device)} was given without a framework: pass framework='torch' or "
                "'tensorflow' as well, so that coursekit knows how to wait for that device"
            )
        return lambda: None
    name = canonical(framework)
    if device is not None and type(device).__name__ == "device":  # a torch.device or tf.DeviceSpec-like object
        device = str(device)
    if device is not None:
        validate.text("device", device, example="cuda" if name == "torch" else "/GPU:0")
    if name == "tensorflow":
        tf = require("tensorflow")
        if device is not None:
            _check_tf_device(tf, device)
        return tf.test.experimental.sync_devices
    torch = require("torch")
    kind = _check_torch_device(torch, device) if device is not None else ""
    if kind == "mps":
        return torch.mps.synchronize
    if kind == "cuda" or (not kind and torch.cuda.is_available() and torch.cuda.is_initialized()):
        return torch.cuda.synchronize
    return lambda: None


def _check_torch_device(torch: Any, device: str) -> str:
    """The kind of a torch device string ('cuda:1' -> 'cuda'), after checking that torch sees that device."""
    kind, _, index = device.partition(":")
    if kind not in TORCH_KINDS or (index and not index.isdigit()):
        raise ValueError(
            f"unknown torch device {device!r}: expected one of {', '.join(TORCH_KINDS)}, optionally with an "
            "index such as 'cuda:0' (best_device('torch') gives the best one present)"
        )
    present = {
        "cpu": 1,
        "xla": 1,
        "cuda": torch.cuda.device_count() if torch.cuda.is_available() else 0,
        "mps": int(bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_available())),
    }
    if present[kind] <= int(index or 0):
        seen = ", ".join(k for k in TORCH_KINDS if present[k] and k != "xla")
        raise ValueError(
            f"device {device!r} was asked for, but torch sees no such device here (it sees: {seen}); "
            "use best_device('torch') to pick one that is present"
        )
    return kind


def _check_tf_device(tf: Any, device: str) -> None:
    """Check that a TensorFlow device string is well formed and names a device TensorFlow sees."""
    match = TF_DEVICE.match(device)
    if not match:
        raise ValueError(
            f"unknown TensorFlow device {device!r}: expected a name such as '/CPU:0', '/GPU:0' or '/TPU:0' "
            "(best_device('tensorflow') gives the best one present)"
        )
    seen = sorted({d.device_type for d in tf.config.list_logical_devices()})
    if match["kind"].upper() not in seen:
        raise ValueError(
            f"device {device!r} was asked for, but TensorFlow sees no such device here (it sees: "
            f"{', '.join(seen)}); use best_device('tensorflow') to pick one that is present"
        )


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

    def __post_init__(self) -> None:
        # Checked here so that a hand-made or reloaded result cannot carry NaN, negative or swapped times.
        validate.text("label", self.label)
        for name in ("median", "q1", "q3"):
            object.__setattr__(self, name, validate.number(name, getattr(self, name), minimum=0, unit="seconds"))
        slack = 1e-9 * self.q3  # quantiles of equal times may differ in the last digit
        if self.q1 > self.median + slack or self.median > self.q3 + slack:
            raise ValueError(
                f"a BenchmarkResult needs q1 ≤ median ≤ q3, got q1={self.q1!r}, median={self.median!r}, q3={self.q3!r}"
            )
        for name, low in (("blocks", 1), ("number", 1), ("warmup", 0)):
            object.__setattr__(self, name, validate.integer(name, getattr(self, name), minimum=low))

    @property
    def iqr(self) -> float:
        """Spread: the interquartile range of the per-call times of the blocks, in seconds."""
        return self.q3 - self.q1

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form, for saved results."""
        return {**asdict(self), "iqr": self.iqr}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> BenchmarkResult:
        """Rebuild a result from `as_dict()` output (e.g. one measured in another process)."""
        data = validate.mapping("data", data, example="result.as_dict()")
        expected = [f.name for f in fields(cls)]
        missing = [k for k in expected if k not in data]
        unknown = [k for k in data if k not in (*expected, "iqr")]
        if missing or unknown:
            wrong = [
                f"{what} {', '.join(map(str, keys))}"
                for what, keys in (("missing", missing), ("unknown", unknown))
                if keys
            ]
            raise ValueError(
                f"not a BenchmarkResult dict ({'; '.join(wrong)}): expected the keys of as_dict(), "
                f"{', '.join(expected)} (and iqr)"
            )
        return cls(**{k: data[k] for k in expected})

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
        if math.isnan(self.elapsed):
            return "not timed yet (use it as `with Timer() as t:`)"
        return format_seconds(self.elapsed)


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
    The device is synchronised after the warm-up and after every block. So that a slip of the
    keyboard cannot run for hours, min_time is at most 60 s, and a benchmark whose warm-up or
    timed blocks would take more than 5 minutes, judged from one call, stops with an error.
    """
    if not callable(fn):
        raise validate.WrongType(f"benchmark needs a function to call, got {type(fn).__name__}: {validate.show(fn)}")
    if label is not None:
        label = validate.text("label", label, example="matmul on cpu")
    warmup = validate.integer("warmup", warmup, minimum=0)
    min_blocks = validate.integer("min_blocks", min_blocks, minimum=1)
    max_blocks = validate.integer(
        "max_blocks", max_blocks, minimum=min_blocks, expected=f"an integer ≥ min_blocks ({min_blocks})"
    )
    if number is not None:
        number = validate.integer("number", number, minimum=1)
    min_time = validate.number(
        "min_time",
        min_time,
        minimum=0,
        maximum=MAX_MIN_TIME,
        unit="seconds",
        hint="benchmark repeats until this much time is spent; 0.5 is the default",
    )
    sync = synchronizer(framework, device)

    start = time.perf_counter()
    for done in range(1, warmup + 1):
        fn(*args)
        if done == 1:
            sync()
            _within_budget((time.perf_counter() - start) * warmup, f"warmup={warmup} calls")
    sync()
    start = time.perf_counter()
    fn(*args)
    sync()
    once = max(time.perf_counter() - start, 1e-9)
    if number is None:
        number = max(1, int(min_time / 20 / once))
    _within_budget(once * number * min_blocks, f"min_blocks={min_blocks} blocks of number={number} calls")

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
    return BenchmarkResult(label or str(getattr(fn, "__name__", "fn")), median, q1, q3, len(per_call), number, warmup)


def _within_budget(planned: float, what: str) -> None:
    """Stop a benchmark that would run for longer than MAX_PLANNED seconds, before it does."""
    if planned > MAX_PLANNED:
        raise ValueError(
            f"benchmark would run for about {format_seconds(planned)} ({what}, judged from one call), more "
            f"than the {MAX_PLANNED:.0f} s coursekit allows: lower them, or time a smaller input"
        )


def compare(results: Iterable[BenchmarkResult] | Mapping[str, BenchmarkResult], baseline: str | None = None) -> Table:
    """A side-by-side table of results, with each one's speed relative to `baseline` (default: first).

    results: BenchmarkResults in the order to show them (a dict of them: its values).
    """
    if isinstance(results, BenchmarkResult):
        raise validate.WrongType(
            "compare needs a list of BenchmarkResults, got a single one: wrap it in a list, compare([result])"
        )
    if isinstance(results, Mapping):
        results = results.values()
    if isinstance(results, (str, bytes)) or not isinstance(results, Iterable):
        raise validate.WrongType(
            f"compare needs a list of BenchmarkResults, got {validate.show(results)} ({validate.a_type(results)})"
        )
    results = list(results)
    if not results:
        raise ValueError("compare needs at least one BenchmarkResult, got none")
    for r in results:
        if not isinstance(r, BenchmarkResult):
            raise validate.WrongType(
                "compare needs BenchmarkResults from coursekit.benchmark, "
                f"got {validate.show(r)} ({validate.a_type(r)})"
            )
        if r.median == 0:
            raise ValueError(
                f"{r.label!r} has a median of 0 s per call, below the clock's resolution, so no speed ratio can "
                "be computed: benchmark it again with more calls per block (number=...)"
            )
    if baseline is not None:
        validate.text("baseline", baseline)
    labels = [r.label for r in results]
    if baseline is None:
        base = results[0]
    elif baseline in labels:
        base = results[labels.index(baseline)]
    else:
        raise ValueError(f"baseline {baseline!r} is not among the results: {', '.join(labels)}")
    rows = [
        [
            r.label,
            format_seconds(r.median),
            format_seconds(r.iqr),
            f"{r.blocks}×{r.number}",
            f"{base.median / r.median:.2f}×",
        ]
        for r in results
    ]
    note = f"speed: how many times faster than '{base.label}' (median per call; above 1 is faster)"
    return Table(["what", "median", "IQR", "blocks×calls", "speed"], rows, note)
