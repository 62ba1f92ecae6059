"""Execute notebooks headless with papermill: parameters injected, a progress bar, a summary table."""

from __future__ import annotations

import ast
import keyword
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coursekit import validate
from coursekit.tables import Table


@dataclass
class RunRecord:
    """How one notebook's run went."""

    notebook: Path
    status: str  # "ok" or "failed"
    seconds: float
    output: Path
    error: str = ""


# What papermill can write into a notebook's parameters cell; anything else it would turn into a string.
PAPERMILL_TYPES = (type(None), str, bool, int, float, list, dict)
MAX_TIMEOUT = 24 * 3600  # seconds per cell


def parse_parameter(text: str) -> tuple[str, Any]:
    """'epochs=3' -> ('epochs', 3); values are Python literals, anything else stays a string."""
    text = validate.text("parameter", text, example="epochs=3")
    name, sep, value = text.partition("=")
    name, value = name.strip(), value.strip()
    if not sep or not name.isidentifier() or keyword.iskeyword(name):
        raise ValueError(f"parameter {text!r} is not of the form name=value (e.g. epochs=3)")
    try:
        parsed = ast.literal_eval(value)
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):  # not a literal: a string
        return name, value
    if not _papermill_can_pass(parsed):
        raise ValueError(
            f"parameter {text!r}: papermill can pass None, strings, booleans, numbers, lists and dicts with "
            "string keys, not a tuple, set, complex number or bytes (write a tuple as a list: [1, 2])"
        )
    return name, parsed


def _papermill_can_pass(value: Any) -> bool:
    if isinstance(value, list):
        return all(map(_papermill_can_pass, value))
    if isinstance(value, dict):
        return all(isinstance(k, str) and _papermill_can_pass(v) for k, v in value.items())
    return isinstance(value, PAPERMILL_TYPES)


def find_notebooks(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    """The notebooks named (one path or several), folders searched recursively; a missing path is an
    error that names it."""
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    elif not isinstance(paths, Iterable):
        raise validate.WrongType(f"paths must be a path or a list of paths, got {validate.show(paths)}")
    found: list[Path] = []
    for item in paths:
        path = validate.path("path", item)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        elif path.is_file() and path.suffix == ".ipynb":
            found.append(path)
        elif path.is_file():
            raise ValueError(f"{path}: not a notebook (a .ipynb file) or a folder of notebooks")
        else:
            raise FileNotFoundError(f"{path}: no such notebook or folder")
    return found


def run_notebooks(
    notebooks: list[Path],
    *,
    out_dir: Path,
    root: Path,
    parameters: Mapping[str, Any] | None = None,
    timeout: int = 600,
) -> list[RunRecord]:
    """Run each notebook in its own folder with papermill; executed copies go under out_dir."""
    out_dir, root = validate.path("out_dir", out_dir), validate.path("root", root)
    timeout = validate.integer(
        "timeout",
        timeout,
        minimum=1,
        maximum=MAX_TIMEOUT,
        expected=f"a whole number of seconds from 1 to {MAX_TIMEOUT} (a day)",
    )
    parameters = dict(validate.mapping("parameters", parameters or {}, example="{'epochs': 1}"))
    for name in parameters:
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise ValueError(f"parameter name {validate.show(name)} is not a Python variable name (e.g. 'epochs')")
    if isinstance(notebooks, (str, os.PathLike)) or not isinstance(notebooks, Iterable):
        raise validate.WrongType(
            f"notebooks must be a list of notebook paths (find_notebooks gives one), got {validate.show(notebooks)}"
        )
    notebooks = [validate.path("notebook", p) for p in notebooks]
    for path in notebooks:
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such notebook")
        if not path.resolve().is_relative_to(root.resolve()):
            raise ValueError(f"notebook {path} is not inside the root folder {root}; executed copies mirror its layout")

    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise OSError(f"cannot write executed notebooks to {out_dir}: {err.strerror or err}") from err
    if not os.access(out_dir, os.W_OK):
        raise PermissionError(f"cannot write executed notebooks to {out_dir}: permission denied")

    import papermill
    from tqdm.auto import tqdm

    records = []
    bar = tqdm(notebooks, unit="notebook", desc="notebooks")
    for path in bar:
        rel = path.resolve().relative_to(root.resolve())
        bar.set_postfix_str(path.name)
        output = out_dir / rel
        output.parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(path),
                str(output),
                parameters=dict(parameters or {}),
                kernel_name="python3",
                cwd=str(path.parent),
                progress_bar=False,
                execution_timeout=timeout,
                # The kernel's start-up warning (plain TCP on loopback) would break up the progress bar.
                extra_arguments=["--IPKernelApp.log_level=ERROR"],
            )
            records.append(RunRecord(rel, "ok", time.perf_counter() - start, output))
        except Exception as err:  # papermill raises its own error types and nbclient's timeouts
            message = str(err).strip().splitlines()
            records.append(
                RunRecord(
                    rel, "failed", time.perf_counter() - start, output, message[-1] if message else type(err).__name__
                )
            )
    return records


def summary(records: list[RunRecord]) -> Table:
    """notebook | status | seconds, with the error line of each failure."""
    rows = [[str(r.notebook), r.status, f"{r.seconds:.1f}", r.error[:100]] for r in records]
    return Table(["notebook", "status", "seconds", "error"], rows)
