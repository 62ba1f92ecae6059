"""The twins meet: both lessons of a module save the same metric keys, and agree where they must.

conftest.py puts this test in the same xdist group as the module's two lesson notebooks, after them,
so it reads what nbval's run of them just saved; run alone, it executes the lessons itself.
"""

import json
import math
import time

import pytest

from coursekit.course import FRAMEWORKS, TWIN_AGREEMENT, NotebookId, course_notebooks
from coursekit.results import results_dir
from coursekit.tables import Table
from helpers import ROOT, needs

SESSION_START = time.time()
LESSON_MODULES = sorted(
    {
        nb.module
        for nb in map(NotebookId.parse, course_notebooks(ROOT))
        if nb.kind == "lesson" and nb.framework is not None
    }
)


def fresh_results(module, tmp_path):
    """Both twins' records as saved in this test session; the lessons are executed first if they were not."""
    folder = results_dir()
    paths = {fw.slug: folder / f"{module}_{fw.slug}.json" for fw in FRAMEWORKS.values()}
    stale = [slug for slug, p in paths.items() if not p.exists() or p.stat().st_mtime < SESSION_START]
    if stale:
        from coursekit.runner import run_notebooks

        notebooks = [ROOT / "notebooks" / module / f"{module}_{slug}.ipynb" for slug in stale]
        records = run_notebooks(notebooks, out_dir=tmp_path, root=ROOT)
        assert all(r.status == "ok" for r in records), [(str(r.notebook), r.error) for r in records]
    return {slug: json.loads(p.read_text(encoding="utf-8")) for slug, p in paths.items()}


def differs(a, b, how, tol):
    a, b = (a if isinstance(a, list) else [a]), (b if isinstance(b, list) else [b])
    if len(a) != len(b):
        return True
    if how == "rel":
        return any(not math.isclose(x, y, rel_tol=tol) for x, y in zip(a, b, strict=True))
    return any(abs(x - y) > tol for x, y in zip(a, b, strict=True))


def shown(value):
    """A metric for the side-by-side table: a curve by its length and last value."""
    return f"{len(value)} values, last {value[-1]:.4g}" if isinstance(value, list) else value


@needs("torch", "tensorflow")
@pytest.mark.parametrize("module", LESSON_MODULES)
def test_twins_save_the_same_keys_and_agree_where_they_must(module, tmp_path):
    both = fresh_results(module, tmp_path)
    torch, tf = both["pytorch"], both["tensorflow"]
    assert torch["metrics"].keys() == tf["metrics"].keys(), (
        f"{module}: the twins save different metric keys: only PyTorch "
        f"{sorted(torch['metrics'].keys() - tf['metrics'].keys())}, only TensorFlow "
        f"{sorted(tf['metrics'].keys() - torch['metrics'].keys())}"
    )
    assert torch["timings"].keys() == tf["timings"].keys(), f"{module}: the twins time different things"
    for key, (how, tol) in TWIN_AGREEMENT.get(module, {}).items():
        a, b = torch["metrics"][key], tf["metrics"][key]
        assert not differs(a, b, how, tol), f"{module}: {key} differs between the twins: PyTorch {a}, TensorFlow {b}"
    rows = [[key, shown(torch["metrics"][key]), shown(tf["metrics"][key])] for key in sorted(torch["metrics"])]
    rows += [
        [f"{key} (median s)", f"{torch['timings'][key]['median']:.3g}", f"{tf['timings'][key]['median']:.3g}"]
        for key in sorted(torch["timings"])
    ]
    print(Table(["metric", "PyTorch", "TensorFlow"], rows))


def test_a_disagreement_is_caught():
    assert differs([0.5, -1.0], [0.5, -1.001], "abs", 1e-5)
    assert differs(0.1, 0.2, "rel", 1e-4)
    assert not differs([1.0, 2.0], [1.0 + 1e-7, 2.0], "abs", 1e-5)
    assert differs([1.0], [1.0, 2.0], "abs", 1e-5)
