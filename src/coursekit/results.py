"""Save each notebook's metrics and timings as JSON, and load them back for the scorecard."""

from __future__ import annotations

import datetime as _dt
import json
import os
import platform
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from coursekit.course import course_root
from coursekit.timing import BenchmarkResult

NOTEBOOK_ID = re.compile(r"^(?P<module>\d\d_[a-z0-9_]+?)_(?P<framework>pytorch|tensorflow)$")


def results_dir() -> Path:
    """Where results go: $COURSEKIT_RESULTS_DIR, else results/ at the course's root, else ./results."""
    if os.environ.get("COURSEKIT_RESULTS_DIR"):
        return Path(os.environ["COURSEKIT_RESULTS_DIR"])
    root = course_root()
    return (root or Path.cwd()) / "results"


def save_results(
    notebook: str,
    metrics: Mapping[str, Any],
    *,
    device: str,
    timings: Mapping[str, BenchmarkResult] | None = None,
    directory: str | Path | None = None,
) -> Path:
    """Write `<notebook>.json` with the metrics, timings and the machine they were measured on.

    notebook: the notebook's id, e.g. '00_setup_pytorch' (module, then the framework).
    metrics: numbers or short strings (accuracy, loss, counts); timings: benchmark results.
    """
    match = NOTEBOOK_ID.match(notebook)
    if not match:
        raise ValueError(
            f"notebook id {notebook!r} is not of the form NN_slug_pytorch or NN_slug_tensorflow "
            "(e.g. '00_setup_pytorch')"
        )
    for key, value in metrics.items():
        if not isinstance(value, (int, float, str, bool)):
            raise TypeError(
                f"metric {key!r} is a {type(value).__name__}; metrics must be numbers, strings or "
                "booleans (convert tensors with float(x) or .item())"
            )
    for key, value in (timings or {}).items():
        if not isinstance(value, BenchmarkResult):
            raise TypeError(f"timing {key!r} must be a BenchmarkResult from coursekit.benchmark")
    record = {
        "notebook": notebook,
        "module": match["module"],
        "framework": match["framework"],
        "device": device,
        "machine": {"platform": platform.platform(), "processor": platform.machine()},
        "saved": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "metrics": dict(metrics),
        "timings": {k: v.as_dict() for k, v in (timings or {}).items()},
    }
    folder = Path(directory) if directory is not None else results_dir()
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{notebook}.json"
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def load_results(directory: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """Every saved result in the folder, keyed by notebook id (an empty dict if there are none)."""
    folder = Path(directory) if directory is not None else results_dir()
    records = {}
    for path in sorted(folder.glob("*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not valid JSON ({err}); delete it and rerun its notebook") from err
        records[record.get("notebook", path.stem)] = record
    return records
