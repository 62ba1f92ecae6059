"""Execute notebooks headless with papermill: parameters injected, a progress bar, a summary table."""

from __future__ import annotations

import ast
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from coursekit.tables import Table


@dataclass
class RunRecord:
    """How one notebook's run went."""

    notebook: Path
    status: str  # "ok" or "failed"
    seconds: float
    output: Path
    error: str = ""


def parse_parameter(text: str) -> tuple[str, Any]:
    """'epochs=3' -> ('epochs', 3); values are Python literals, anything else stays a string."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip().isidentifier():
        raise ValueError(f"parameter {text!r} is not of the form name=value (e.g. epochs=3)")
    try:
        return name.strip(), ast.literal_eval(value)
    except (ValueError, SyntaxError):
        return name.strip(), value


def find_notebooks(paths: Iterable[Path]) -> list[Path]:
    """The notebooks named, folders searched recursively; a missing path is an error that names it."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            found += sorted(p for p in path.rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
        elif path.suffix == ".ipynb" and path.is_file():
            found.append(path)
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
                str(path), str(output), parameters=dict(parameters or {}), kernel_name="python3",
                cwd=str(path.parent), progress_bar=False, execution_timeout=timeout,
            )
            records.append(RunRecord(rel, "ok", time.perf_counter() - start, output))
        except Exception as err:  # papermill raises its own error types and nbclient's timeouts
            message = str(err).strip().splitlines()
            records.append(RunRecord(rel, "failed", time.perf_counter() - start, output,
                                     message[-1] if message else type(err).__name__))
    return records


def summary(records: list[RunRecord]) -> Table:
    """notebook | status | seconds, with the error line of each failure."""
    rows = [[str(r.notebook), r.status, f"{r.seconds:.1f}", r.error[:100]] for r in records]
    return Table(["notebook", "status", "seconds", "error"], rows)
