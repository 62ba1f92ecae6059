"""Saved results round-trip, and bad input gets a clear error."""

import importlib.util
import json
import os
import re
import types

import jsonschema
import pytest

from coursekit.frameworks import version
from coursekit.results import SCHEMA_VERSION, load_results, results_dir, save_results, schema
from coursekit.timing import BenchmarkResult
from helpers import ROOT

TIMING = BenchmarkResult("step", 2e-3, 1.9e-3, 2.2e-3, 9, 10, 3)


def test_save_and_load_round_trip(tmp_path):
    path = save_results(
        "03_networks_pytorch",
        {"accuracy": 0.97, "params": 1234},
        device="cpu",
        timings={"step": TIMING},
        directory=tmp_path,
    )
    assert path.name == "03_networks_pytorch.json"
    record = load_results(tmp_path)["03_networks_pytorch"]
    assert record["module"] == "03_networks" and record["framework"] == "pytorch"
    assert record["metrics"] == {"accuracy": 0.97, "params": 1234}
    assert BenchmarkResult.from_dict(record["timings"]["step"]) == TIMING


def test_results_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("COURSEKIT_RESULTS_DIR", str(tmp_path / "r"))
    assert results_dir() == tmp_path / "r"
    monkeypatch.delenv("COURSEKIT_RESULTS_DIR")
    monkeypatch.chdir(tmp_path)
    assert results_dir() == tmp_path / "results"  # outside the course: next to the notebook


@pytest.mark.parametrize("name", ["setup_pytorch", "00_setup_jax", "00_setup", "0_setup_pytorch"])
def test_bad_notebook_ids(name, tmp_path):
    with pytest.raises(ValueError, match="is not of the form NN_slug_pytorch or NN_slug_tensorflow"):
        save_results(name, {}, device="cpu", directory=tmp_path)


def test_metrics_are_plain_values_or_curves(tmp_path):
    np = pytest.importorskip("numpy")
    path = save_results(
        "00_setup_pytorch",
        {
            "loss": [1.0, 0.5],
            "acc": np.float32(0.75),
            "n": np.int64(3),
            "curve": np.array([2.0, 1.0]),
            "ok": np.bool_(True),
        },
        device="cpu",
        directory=tmp_path,
    )
    assert json.loads(path.read_text())["metrics"] == {
        "loss": [1.0, 0.5],
        "acc": 0.75,
        "n": 3,
        "curve": [2.0, 1.0],
        "ok": True,
    }
    with pytest.raises(TypeError, match=r"metric 'loss' is a dict; .* \.item\(\) or \.tolist\(\)"):
        save_results("00_setup_pytorch", {"loss": {"a": 1.0}}, device="cpu", directory=tmp_path)
    with pytest.raises(TypeError, match=r"metric 'loss'\[1\] is 'x' \(a str\); a list metric must hold only numbers"):
        save_results("00_setup_pytorch", {"loss": [1.0, "x"]}, device="cpu", directory=tmp_path)
    with pytest.raises(TypeError, match="timing 't' must be a BenchmarkResult"):
        save_results("00_setup_pytorch", {}, device="cpu", timings={"t": 1.0}, directory=tmp_path)


@pytest.mark.parametrize(
    "metrics, key", [({"loss": float("nan")}, "'loss' is nan"), ({"loss": [1.0, float("inf")]}, r"'loss'\[1\] is inf")]
)
def test_nan_and_infinity_are_refused_naming_the_key(metrics, key, tmp_path):
    with pytest.raises(ValueError, match=f"metric {key}: strict JSON has no NaN or Infinity"):
        save_results("00_setup_pytorch", metrics, device="cpu", directory=tmp_path)
    assert not list(tmp_path.iterdir()), "nothing may be written when the record is refused"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"notebook": 0}, "notebook must be a string, e.g. '00_setup_pytorch', got 0 (an int)"),
        ({"metrics": [("acc", 1.0)]}, "metrics must be a dict, e.g. {'accuracy': 0.97}, got [('acc', 1.0)] (a list)"),
        ({"metrics": {1: 1.0}}, "metric names must be non-empty strings, got 1"),
        ({"device": ""}, "device must be a non-empty string, e.g. 'cpu', got ''"),
        ({"device": None}, "device must be a string, e.g. 'cpu', got None (a NoneType)"),
        ({"directory": 3}, "directory must be a path (a str or pathlib.Path), got 3 (an int)"),
    ],
)
def test_bad_arguments_are_named(kwargs, message, tmp_path):
    call = {"notebook": "00_setup_pytorch", "metrics": {}, "device": "cpu", "directory": tmp_path, **kwargs}
    with pytest.raises(ValueError, match=re.escape(message)):
        save_results(call.pop("notebook"), call.pop("metrics"), **call)


def test_every_saved_record_follows_the_shipped_schema(tmp_path):
    path = save_results(
        "01_tensors_autodiff_tensorflow",
        {"mse": 0.1, "losses": [3.0, 1.0]},
        device="/CPU:0",
        timings={"step": TIMING},
        directory=tmp_path,
    )
    record = json.loads(path.read_text())
    jsonschema.validate(record, schema())  # the file itself, read with an independent validator
    assert record["schema_version"] == SCHEMA_VERSION == schema()["properties"]["schema_version"]["const"]
    assert set(record) == set(schema()["required"])
    assert record["versions"]["framework"] == version("tensorflow")
    assert set(record["timings"]["step"]) == {"label", "median", "q1", "q3", "iqr", "blocks", "number", "warmup"}
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert '"results.schema.json"' in pyproject.split("[tool.setuptools.package-data]")[1], (
        "the schema must ship as package data"
    )
    assert '"jsonschema>=' in pyproject


def corrupt(tmp_path, change):
    """Save a good record, apply `change` to its JSON, and return the error load_results raises."""
    path = save_results("00_setup_pytorch", {"acc": 0.5}, device="cpu", timings={"step": TIMING}, directory=tmp_path)
    record = json.loads(path.read_text())
    change(record)
    path.write_text(json.dumps(record))
    with pytest.raises(ValueError) as err:
        load_results(tmp_path)
    return str(err.value)


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda r: r.pop("versions"), "00_setup_pytorch.json: the record: 'versions' is a required property"),
        (lambda r: r["metrics"].update(acc={"a": 1}), "00_setup_pytorch.json: metrics.acc: {'a': 1} is not valid"),
        (
            lambda r: r["metrics"].update(acc=[1, "a"]),
            "00_setup_pytorch.json: metrics.acc.1: 'a' is not of type 'number'",
        ),
        (lambda r: r["timings"]["step"].update(median=-1), "timings.step.median: -1 is less than the minimum of 0"),
        (lambda r: r["timings"]["step"].update(iqr=5), "timings.step.iqr is 5, but q3 - q1 is"),
        (lambda r: r["timings"]["step"].update(q1=1.0), "timings.step: a BenchmarkResult needs q1 ≤ median ≤ q3"),
        (lambda r: r.update(framework="jax"), "framework: 'jax' is not one of ['pytorch', 'tensorflow']"),
        (
            lambda r: r.update(notebook="00_setup_tensorflow"),
            "notebook is '00_setup_tensorflow', but module and framework",
        ),
        (lambda r: r.update(schema_version=2), "saved by another version of coursekit (schema 2, this one reads 1)"),
        (
            lambda r: r["metrics"].update(acc=float("nan")),
            "00_setup_pytorch.json: metrics.acc (nan) is not a finite number",
        ),
    ],
)
def test_load_results_names_the_bad_file_and_field(tmp_path, change, message):
    assert message in corrupt(tmp_path, change)


def test_a_corrupt_file_is_named(tmp_path):
    (tmp_path / "00_setup_pytorch.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"00_setup_pytorch.json is not valid JSON"):
        load_results(tmp_path)
    (tmp_path / "00_setup_pytorch.json").write_bytes(b"\xff\xfe{}")
    with pytest.raises(ValueError, match=r"00_setup_pytorch.json is not UTF-8 text"):
        load_results(tmp_path)
    (tmp_path / "00_setup_pytorch.json").unlink()
    assert load_results(tmp_path) == {}  # a folder without results yet
    with pytest.raises(FileNotFoundError, match=r"no results folder .*none: run a notebook first"):
        load_results(tmp_path / "none")


def test_a_folder_that_cannot_be_written_is_named(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(OSError, match=r"cannot save results to .*file/00_setup_pytorch.json: File exists"):
        save_results("00_setup_pytorch", {}, device="cpu", directory=tmp_path / "file")


def test_a_record_under_another_name_is_refused(tmp_path):
    path = save_results("00_setup_pytorch", {}, device="cpu", directory=tmp_path)
    path.rename(tmp_path / "00_setup_tensorflow.json")
    with pytest.raises(
        ValueError, match=r"holds the results of '00_setup_pytorch': its name must be 00_setup_pytorch.json"
    ):
        load_results(tmp_path)


def course_conftest():
    """The course's root conftest.py as a module, to call its session hooks directly."""
    spec = importlib.util.spec_from_file_location("course_conftest", ROOT / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_test_session_fails_when_a_notebook_writes_a_bad_record(tmp_path, monkeypatch):
    hooks = course_conftest()
    monkeypatch.setenv("COURSEKIT_RESULTS_DIR", str(tmp_path))
    stale = tmp_path / "00_old_pytorch.json"
    stale.write_text("{}")  # from an earlier run: not this session's business
    os.utime(stale, (0, 0))
    session = types.SimpleNamespace(config=types.SimpleNamespace(), exitstatus=pytest.ExitCode.OK)
    hooks.pytest_sessionstart(session)
    save_results("00_setup_pytorch", {"acc": 0.5}, device="cpu")  # what a notebook does: valid
    hooks.pytest_sessionfinish(session)
    assert session.exitstatus == pytest.ExitCode.OK and hooks._results_problems == []
    # A notebook that writes its record by hand, bypassing save_results, with a NaN in it:
    (tmp_path / "00_setup_tensorflow.json").write_text(
        (tmp_path / "00_setup_pytorch.json").read_text().replace("0.5", "NaN").replace("pytorch", "tensorflow")
    )
    hooks.pytest_sessionfinish(session)
    assert session.exitstatus == pytest.ExitCode.TESTS_FAILED
    assert (
        len(hooks._results_problems) == 1
        and "00_setup_tensorflow.json: metrics.acc (nan)" in hooks._results_problems[0]
    )
    worker = types.SimpleNamespace(config=types.SimpleNamespace(workerinput={}), exitstatus=pytest.ExitCode.OK)
    hooks.pytest_sessionfinish(worker)  # xdist workers leave the check to the controller
    assert worker.exitstatus == pytest.ExitCode.OK


def test_a_record_from_an_older_coursekit_says_to_rerun_its_notebook(tmp_path):
    path = save_results("00_setup_pytorch", {"acc": 0.5}, device="cpu", directory=tmp_path)
    record = json.loads(path.read_text())
    del record["schema_version"]
    path.write_text(json.dumps(record))
    with pytest.raises(
        ValueError,
        match=r"saved by another version of coursekit \(schema None, this one reads 1\): "
        r"rerun 00_setup_pytorch.ipynb to save it again",
    ):
        load_results(tmp_path)
