"""Save each notebook's metrics and timings as JSON, and load them back for the scorecard.

Every record follows one JSON Schema, shipped beside this module as `results.schema.json`
(`SCHEMA_VERSION` 1), so the scorecard can be written against it. A record holds exactly:

- schema_version: 1
- notebook: the notebook's id, its module then its framework, e.g. "00_setup_pytorch"
- module: "00_setup"; framework: "pytorch" or "tensorflow"
- device: the device it ran on, as the framework names it ("cpu", "cuda", "/GPU:0", ...)
- versions: {"python": "3.11.9", "numpy": "2.4.6", "framework": "2.13.0"}: the notebook's
  framework's version, read by coursekit.frameworks.version (null if it is not installed)
- machine: {"platform": platform.platform(), "processor": platform.machine()}
- saved: when it was written, UTC to the second: "2026-01-31T12:00:00+00:00"
- metrics: {name: value}, each value a finite number, a string, a boolean, or a non-empty list of
  finite numbers (a curve, e.g. the loss per step, which the plots read)
- timings: {name: {label, median, q1, q3, iqr, blocks, number, warmup}}: seconds per call from
  coursekit.benchmark, the median and the spread (quartiles q1, q3 and iqr = q3 - q1) over
  `blocks` timed blocks of `number` calls each, after `warmup` untimed calls

Strict JSON has no NaN or Infinity, so a value that is not finite is refused with its key named.
save_results validates a record before writing it; load_results validates every file it reads
and names the bad file and field.
"""

from __future__ import annotations

import datetime as _dt
import functools
import json
import math
import numbers
import os
import platform
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from coursekit import validate
from coursekit.course import course_root, parse_results_id
from coursekit.frameworks import version
from coursekit.timing import BenchmarkResult

SCHEMA_VERSION = 1
SCHEMA_FILE = "results.schema.json"


def results_dir() -> Path:
    """Where results go: $COURSEKIT_RESULTS_DIR, else results/ at the course's root, else ./results."""
    if os.environ.get("COURSEKIT_RESULTS_DIR"):
        return Path(os.environ["COURSEKIT_RESULTS_DIR"])
    root = course_root()
    return (root or Path.cwd()) / "results"


@functools.cache
def schema() -> dict[str, Any]:
    """The JSON Schema every saved record follows (results.schema.json, shipped in the package)."""
    from importlib import resources

    return json.loads(resources.files("coursekit").joinpath(SCHEMA_FILE).read_text(encoding="utf-8"))


def check_record(record: Any, source: str = "record") -> None:
    """Raise a ValueError naming `source` and the field if `record` does not follow the schema."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    if isinstance(record, dict) and record.get("schema_version") != SCHEMA_VERSION and "notebook" in record:
        raise ValueError(
            f"{source}: saved by another version of coursekit (schema {record.get('schema_version')}, "
            f"this one reads {SCHEMA_VERSION}): rerun {record['notebook']}.ipynb to save it again"
        )
    where = _not_finite(record)
    if where is not None:
        raise ValueError(f"{source}: {where} is not a finite number; strict JSON has no NaN or Infinity")
    error = best_match(Draft202012Validator(schema()).iter_errors(record))
    if error is not None:
        field = ".".join(map(str, error.absolute_path)) or "the record"
        raise ValueError(f"{source}: {field}: {error.message} (see coursekit/{SCHEMA_FILE})")
    expected = f"{record['module']}_{record['framework']}"
    if record["notebook"] != expected:
        raise ValueError(f"{source}: notebook is {record['notebook']!r}, but module and framework say {expected!r}")
    for name, timing in record["timings"].items():
        try:
            result = BenchmarkResult.from_dict(timing)
        except ValueError as err:
            raise ValueError(f"{source}: timings.{name}: {err}") from None
        if not math.isclose(timing["iqr"], result.iqr, rel_tol=1e-6, abs_tol=1e-12):
            raise ValueError(f"{source}: timings.{name}.iqr is {timing['iqr']!r}, but q3 - q1 is {result.iqr!r}")


def _not_finite(value: Any, path: str = "") -> str | None:
    """The dotted path of the first NaN or infinite float inside a JSON-like value, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return f"{path or 'the record'} ({value!r})"
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        found = _not_finite(item, f"{path}.{key}" if path else str(key))
        if found is not None:
            return found
    return None


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
    metrics: numbers, short strings, booleans or lists of numbers (a curve); timings: benchmark results.
    The record is checked against the schema (see this module's docstring) before it is written.
    """
    validate.text("notebook", notebook, example="00_setup_pytorch")
    module, fw = parse_results_id(notebook)
    metrics = validate.mapping("metrics", metrics, example="{'accuracy': 0.97}")
    timings = validate.mapping("timings", timings or {}, example="{'step': benchmark(step)}")
    record = {
        "schema_version": SCHEMA_VERSION,
        "notebook": notebook,
        "module": module,
        "framework": fw.slug,
        "device": validate.text("device", device, example="cpu"),
        "versions": {"python": platform.python_version(), "numpy": np.__version__, "framework": version(fw.key)},
        "machine": {"platform": platform.platform(), "processor": platform.machine()},
        "saved": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "metrics": {_key("metric", k): _metric(k, v) for k, v in metrics.items()},
        "timings": {_key("timing", k): _timing(k, v) for k, v in timings.items()},
    }
    check_record(record, f"results of {notebook}")
    folder = validate.path("directory", directory) if directory is not None else results_dir()
    path = folder / f"{notebook}.json"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record, indent=2, ensure_ascii=False, allow_nan=False) + "\n", encoding="utf-8")
    except OSError as err:
        raise OSError(f"cannot save results to {path}: {err.strerror or err}") from err
    return path


def _key(kind: str, key: Any) -> str:
    if not isinstance(key, str) or not key:
        raise validate.WrongType(f"{kind} names must be non-empty strings, got {validate.show(key)}")
    return key


def _metric(key: str, value: Any) -> bool | int | float | str | list[float]:
    """A metric as plain JSON: NumPy scalars and 1-D arrays become Python numbers and lists."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, str):
        return value
    if isinstance(value, numbers.Real):
        return _finite(f"metric {key!r}", value)
    if isinstance(value, (list, tuple)) or (isinstance(value, np.ndarray) and value.ndim == 1):
        items = list(value)
        if not items:
            raise ValueError(f"metric {key!r} is an empty list; a curve needs at least one number")
        for i, item in enumerate(items):
            if isinstance(item, (bool, np.bool_)) or not isinstance(item, numbers.Real):
                raise validate.WrongType(
                    f"metric {key!r}[{i}] is {validate.show(item)} ({validate.a_type(item)}); a list metric "
                    "must hold only numbers (convert tensors with .tolist())"
                )
        return [_finite(f"metric {key!r}[{i}]", item) for i, item in enumerate(items)]
    raise validate.WrongType(
        f"metric {key!r} is {validate.a_type(value)}; metrics must be numbers, strings, booleans or lists "
        "of numbers (convert tensors with float(x), .item() or .tolist())"
    )


def _finite(what: str, value: numbers.Real) -> int | float:
    plain = int(value) if isinstance(value, numbers.Integral) else float(value)
    if isinstance(plain, float) and not math.isfinite(plain):
        raise ValueError(
            f"{what} is {plain!r}: strict JSON has no NaN or Infinity, so the scorecard could not read "
            "it; save a finite number (a NaN loss usually means training diverged: lower the learning rate)"
        )
    return plain


def _timing(key: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, BenchmarkResult):
        raise validate.WrongType(
            f"timing {key!r} must be a BenchmarkResult from coursekit.benchmark, got {validate.show(value)}"
        )
    return value.as_dict()


def load_record(path: str | Path) -> dict[str, Any]:
    """One saved record, checked against the schema; a bad file is a ValueError naming it and the field."""
    path = validate.path("path", path)
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as err:
        raise ValueError(
            f"{path} is not UTF-8 text ({err.reason} at byte {err.start}); delete it and rerun its notebook"
        ) from None
    try:
        record = json.loads(text)
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON ({err}); delete it and rerun its notebook") from err
    check_record(record, str(path))
    if record["notebook"] != path.stem:
        raise ValueError(
            f"{path} holds the results of {record['notebook']!r}: its name must be {record['notebook']}.json"
        )
    return record


def load_results(directory: str | Path | None = None) -> dict[str, dict[str, Any]]:
    """Every saved result in the folder, keyed by notebook id (an empty dict if the folder holds none).

    A folder that does not exist is an error: the notebooks have not run yet, or the path is wrong.
    """
    folder = validate.path("directory", directory) if directory is not None else results_dir()
    if not folder.exists():
        raise FileNotFoundError(
            f"no results folder {folder}: run a notebook first (each one saves its results there), "
            "or pass the folder that holds them"
        )
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is a file; pass the folder that holds the results")
    return {record["notebook"]: record for record in map(load_record, sorted(folder.glob("*.json")))}
