"""The scorecard: coursekit.scorecard on hand-made records, and the notebook on the results this run saved.

conftest.py keeps nbval away from notebooks/scorecard.ipynb and sorts the notebook test here last, so
pytest-xdist hands it out after every lesson; it then waits until the lessons collected in this run have
saved their results (or until none has arrived for a while: a failed lesson saves nothing) and runs the
scorecard with papermill. Run alone, it runs the scorecard on whatever results are there.
"""

import time

import nbformat
import pytest

from coursekit.course import FRAMEWORKS, MODULES, NotebookId
from coursekit.results import load_results, results_dir, save_results
from coursekit.scorecard import ROWS, Row, build
from coursekit.timing import BenchmarkResult
from coursekit.validate import WrongType
from helpers import ROOT

SESSION_START = time.time()
QUIET_SECONDS = 240  # the longest lesson takes about a minute alone; two at once on two cores, more


def timing(label, seconds):
    return BenchmarkResult(label, seconds, seconds * 0.9, seconds * 1.1, blocks=5, number=10, warmup=2)


def save_02(folder, slug, eager, graph, **extra):
    metrics = {"speedup_train_step": eager / graph, **extra}
    timings = {"train_step_eager": timing("eager", eager), "train_step_graph": timing("graph", graph)}
    device = "cpu" if slug == "pytorch" else "/CPU:0"
    save_results(f"02_execution_models_{slug}", metrics, device=device, timings=timings, directory=folder)


def test_no_results_lists_every_module_as_missing():
    card = build({})
    assert card.lines == [] and card.modules == []
    assert list(card.missing) == list(MODULES)
    assert all(titles == ["PyTorch", "TensorFlow"] for titles in card.missing.values())
    with pytest.raises(ValueError, match="no quantity measured in 'ms' here; the units present are: none"):
        card.figure("ms")


def test_saved_timings_reach_the_table_in_the_rows_unit_with_a_verdict(tmp_path):
    save_02(tmp_path, "pytorch", eager=0.002, graph=0.0019)
    save_02(tmp_path, "tensorflow", eager=0.012, graph=0.003)
    card = build(load_results(tmp_path))
    assert card.modules == ["02_execution_models"] and "02_execution_models" not in card.missing
    lines = {line.row.key: line for line in card.lines}
    eager = lines["train_step_eager"]
    assert eager.values == pytest.approx({"pytorch": 2.0, "tensorflow": 12.0})  # seconds shown in ms
    assert eager.verdict == "PyTorch ×6" and eager.ratio == pytest.approx(1 / 6)
    assert lines["speedup_train_step"].verdict == "TensorFlow ×3.8"  # higher is better for a speed-up
    assert lines["small_op_eager"].values == {"pytorch": None, "tensorflow": None}  # not saved: shown as —
    assert lines["small_op_eager"].verdict == "not both measured"
    rows = {row[1]: row for row in card.table().rows}
    assert rows["training step, eager"][2:5] == ["2 ms", "12 ms", "PyTorch ×6"]
    assert rows["training step, eager"][5].startswith("cpu · ") and " / /CPU:0 · " in rows["training step, eager"][5]
    assert rows["small op, eager"][2:4] == ["—", "—"]
    assert card.units() == ["ms", "×"]
    assert len(card.figure("ms").axes[0].patches) == 2 * 2  # two quantities, a bar per framework


def test_one_twin_alone_is_shown_and_the_other_listed_missing(tmp_path):
    save_02(tmp_path, "tensorflow", eager=0.012, graph=0.003)
    card = build(load_results(tmp_path))
    assert card.missing["02_execution_models"] == ["PyTorch"]
    line = next(line for line in card.lines if line.row.key == "train_step_graph")
    assert line.values == pytest.approx({"pytorch": None, "tensorflow": 3.0})
    assert line.verdict == "not both measured" and line.ratio is None


@pytest.mark.parametrize(("torch_value", "verdict"), [(53002, "agree"), (53001, "differ by 1")])
def test_quantities_the_twins_must_agree_on_get_agree_or_differ(torch_value, verdict):
    records = {
        f"03_networks_{fw.slug}": {"metrics": {"params_cnn": value}, "device": "cpu", "versions": {}}
        for fw, value in zip(FRAMEWORKS.values(), (torch_value, 53002), strict=True)
    }
    line = next(line for line in build(records).lines if line.row.key == "params_cnn")
    assert line.verdict == verdict


def test_a_metric_that_is_not_a_number_is_not_shown_as_one():
    records = {"05_training_loops_pytorch": {"metrics": {"test_accuracy": "high", "epochs_to_97": True}}}
    lines = {line.row.key: line for line in build(records).lines}
    assert lines["test_accuracy"].values["pytorch"] is None and lines["epochs_to_97"].values["pytorch"] is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"module": "99_nothing"}, "unknown module '99_nothing': expected one of 00_setup"),
        ({"source": "metrics"}, "unknown source 'metrics': expected one of metric, timing"),
        ({"better": "faster"}, "unknown better 'faster': expected one of lower, higher, agree"),
        ({"source": "timing", "unit": "samples/s"}, "a timing is shown in s, ms, µs, got 'samples/s'"),
    ],
)
def test_a_bad_row_is_refused_with_what_is_accepted(kwargs, message):
    spec = {"module": "02_execution_models", "key": "k", "label": "k", **kwargs}
    with pytest.raises(ValueError, match=message):
        Row(**spec)


def test_records_must_be_a_mapping():
    with pytest.raises(WrongType, match="records must be"):
        build([("02_execution_models_pytorch", {})])


def test_every_row_belongs_to_a_module_and_is_unique():
    keys = [(row.module, row.key) for row in ROWS]
    assert len(keys) == len(set(keys))
    assert list(dict.fromkeys(row.module for row in ROWS)) == sorted({row.module for row in ROWS})


def lessons_in_this_run(session):
    """The lesson notebooks collected in this run, as their results ids (a worker collects them all)."""
    ids = set()
    for item in session.items:
        path = item.path.resolve()
        if path.suffix == ".ipynb" and path.is_relative_to(ROOT):
            nb = NotebookId.parse(path.relative_to(ROOT))
            if nb.kind == "lesson" and nb.framework is not None:
                ids.add(f"{nb.module}_{nb.framework.slug}")
    return ids


def wait_for(expected):
    """Wait while this run's lessons keep saving; return the ids still missing when they stop."""
    folder = results_dir()
    last_news, seen = time.time(), set()
    while True:
        fresh = {p.stem for p in folder.glob("*.json") if p.stat().st_mtime >= SESSION_START}
        if expected <= fresh:
            return set()
        if fresh - seen:
            seen, last_news = fresh, time.time()
        if time.time() - last_news > QUIET_SECONDS:
            return expected - fresh
        time.sleep(2)


def test_the_scorecard_notebook_reads_this_runs_results(request, tmp_path):
    from coursekit.runner import run_notebooks

    expected = lessons_in_this_run(request.session)
    missing = wait_for(expected)
    (record,) = run_notebooks([ROOT / "notebooks" / "scorecard.ipynb"], out_dir=tmp_path, root=ROOT)
    assert record.status == "ok", record.error
    executed = nbformat.read(record.output, as_version=4)
    text = "\n".join(
        output.get("text", "") or output.get("data", {}).get("text/markdown", "")
        for cell in executed.cells
        if cell.cell_type == "code"
        for output in cell.get("outputs", [])
    )
    assert not missing, f"these lessons ran in this session but saved no results: {sorted(missing)}"
    saved = set(load_results())
    for module in MODULES:
        ids = {f"{module}_{fw.slug}" for fw in FRAMEWORKS.values()}
        if ids & saved and any(row.module == module for row in ROWS):
            assert f"| {module[:2]} |" in text, f"the scorecard has no row for {module}, whose results were saved"
        if not ids <= saved:
            assert f"not run yet: {module}" in text, f"the scorecard does not say that {module} was not run"
