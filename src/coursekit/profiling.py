"""Read what the two profilers write, and measure a step's peak memory the same way in both frameworks.

Only allocator-level figures are comparable across the frameworks on a CPU (module 08): `tracemalloc`
sees neither framework's tensors, `torch.cuda.max_memory_allocated()` is 0 on a CPU, and a process's
peak RSS is swamped by what was loaded before. So `peak_memory` reads PyTorch's profiler memory events
("Total Allocated", with `profile_memory=True`) and TensorFlow's allocator statistics
(`get_memory_info(...)["peak"]` after `reset_memory_stats`). `op_stats` reads TensorFlow's `.xplane.pb`
trace back as a table, through `xprof` when installed, else through TensorFlow's own private converter.
Importing this module imports no framework.
"""

from __future__ import annotations

import json
import re
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from coursekit import validate
from coursekit.frameworks import canonical, module_available, require
from coursekit.notices import filtered_stderr

# What torch's profiler writes straight to descriptor 2 (Jupyter shows it as an error block): kineto's
# start/stop lines, and the allocator's note on blocks allocated before profiling began and freed during it.
PROFILER_NOTICES = re.compile(
    r"USDT:\S+ \S+ \d+:\d+ \S+\.cpp:\d+\] profiler_(start|stop)"
    r"|\[W\d+ [\d:.]+ CPUAllocator\.cpp:\d+\] Memory block of unknown size"
)
# The package that reads TensorFlow's xplane traces, and TensorFlow's private fallback (may change).
XPROF_INSTALL = "pip install xprof==2.24.2"
FALLBACK = "tensorflow.python.profiler.internal._pywrap_profiler_plugin.xspace_to_tools_data (private)"


@contextmanager
def quiet_torch_profiler() -> Iterator[None]:
    """Keep torch profiler's start/stop and allocator notices out of the cell's output; pass on anything else."""
    with filtered_stderr(PROFILER_NOTICES):
        yield


def trace_peak_memory(trace: str | Path) -> int:
    """The peak "Total Allocated" (bytes) of the `[memory]` events in a torch profiler Chrome trace (.json)."""
    path = validate.path("trace", trace)
    if not path.is_file():
        raise FileNotFoundError(f"no trace file at {path}: write one with prof.export_chrome_trace(path)")
    try:
        events = json.loads(path.read_text(encoding="utf-8"))["traceEvents"]
    except (ValueError, KeyError, TypeError) as err:
        raise ValueError(f"{path} is not a torch profiler Chrome trace (a JSON object with 'traceEvents')") from err
    totals = [
        e["args"]["Total Allocated"]
        for e in events
        if isinstance(e, dict) and e.get("name") == "[memory]" and "Total Allocated" in e.get("args", {})
    ]
    if not totals:
        raise ValueError(
            f"{path} holds no [memory] events: profile with profile_memory=True, "
            "e.g. torch.profiler.profile(activities=[ProfilerActivity.CPU], profile_memory=True)"
        )
    return int(max(totals))


def _torch_peak(fn: Callable[..., Any], args: tuple[Any, ...]) -> tuple[int, Any]:
    require("torch")
    from torch.profiler import ProfilerActivity, profile

    with tempfile.TemporaryDirectory() as folder:
        with quiet_torch_profiler(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            out = fn(*args)
        trace = Path(folder) / "trace.json"
        with quiet_torch_profiler():
            prof.export_chrome_trace(str(trace))
        return trace_peak_memory(trace), out


def _tensorflow_peak(fn: Callable[..., Any], args: tuple[Any, ...], device: str) -> tuple[int, Any]:
    tf = require("tensorflow")
    tf.config.experimental.reset_memory_stats(device)
    out = fn(*args)
    return int(tf.config.experimental.get_memory_info(device)["peak"]), out


def peak_memory(framework: str, fn: Callable[..., Any], *args: Any, device: str = "CPU:0") -> int:
    """Peak bytes the framework's CPU allocator held while fn(*args) ran (call fn once before, to warm up).

    torch: the profiler's peak "Total Allocated" (profile_memory=True); TensorFlow: get_memory_info(device)
    ["peak"] after reset_memory_stats (it skips tiny allocations). Figures of one framework compare with
    each other (batch sizes, checkpointing); across the frameworks only roughly (different kernels, buffers).
    """
    key = canonical(framework)
    if not callable(fn):
        raise validate.WrongType(
            f"peak_memory needs a function to call, got {validate.a_type(fn)}: {validate.show(fn)}"
        )
    device = validate.text("device", device, example="CPU:0")
    return _torch_peak(fn, args)[0] if key == "torch" else _tensorflow_peak(fn, args, device)[0]


def xplane_files(folder: str | Path) -> list[Path]:
    """The `.xplane.pb` traces that TensorFlow's profiler wrote under folder, oldest first."""
    path = validate.path("folder", folder)
    if not path.is_dir():
        raise FileNotFoundError(f"no folder {path}: run tf.profiler.experimental.start({str(path)!r}) ... stop() first")
    return sorted(path.rglob("*.xplane.pb"), key=lambda p: p.stat().st_mtime)


def converter() -> str:
    """Which reader op_stats uses here: 'xprof', or TensorFlow's private converter when xprof is missing."""
    return "xprof" if module_available("xprof") else FALLBACK


def _raw_tables(path: Path) -> Any:
    if module_available("xprof"):
        from xprof.convert import raw_to_tool_data

        return raw_to_tool_data.xspace_to_tool_data([str(path)], "framework_op_stats", {})
    require("tensorflow")
    try:
        from tensorflow.python.profiler.internal import _pywrap_profiler_plugin as plugin
    except ImportError as err:
        raise ImportError(
            f"neither xprof nor TensorFlow's private profiler converter is importable here: {XPROF_INSTALL}"
        ) from err
    return plugin.xspace_to_tools_data([str(path)], "framework_op_stats", {})


def op_stats(xplane: str | Path) -> list[dict[str, Any]]:
    """TensorFlow's per-op table ("framework_op_stats", as TensorBoard's profile tab shows it) of one xplane
    trace: one dict per row, keyed by column id ('type', 'operation', 'occurrences', 'total_self_time', in µs,
    'host_or_device', ...), in the converter's order (its first row can be IDLE: time with no op running)."""
    path = validate.path("xplane", xplane)
    if not path.is_file() or not path.name.endswith(".xplane.pb"):
        raise FileNotFoundError(
            f"{path} is not an .xplane.pb file: tf.profiler.experimental.start(folder) ... stop() writes one "
            "under folder/plugins/profile/<run>/; coursekit.profiling.xplane_files(folder) lists them"
        )
    raw = _raw_tables(path)
    data = raw[0] if isinstance(raw, tuple) else raw
    if not data:
        raise ValueError(f"the converter ({converter()}) returned nothing for {path}: is it an empty trace?")
    tables = json.loads(data)
    table = tables[0] if isinstance(tables, list) else tables
    ids = [col["id"] for col in table["cols"]]
    return [
        {k: cell.get("v") if cell else None for k, cell in zip(ids, row["c"], strict=False)} for row in table["rows"]
    ]


__all__ = [
    "FALLBACK",
    "PROFILER_NOTICES",
    "XPROF_INSTALL",
    "converter",
    "op_stats",
    "peak_memory",
    "quiet_torch_profiler",
    "trace_peak_memory",
    "xplane_files",
]
