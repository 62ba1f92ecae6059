"""Saved results round-trip, and bad input gets a clear error."""

import json

import pytest

from coursekit.results import load_results, results_dir, save_results
from coursekit.timing import BenchmarkResult

TIMING = BenchmarkResult("step", 2e-3, 1.9e-3, 2.2e-3, 9, 10, 3)


def test_save_and_load_round_trip(tmp_path):
    path = save_results("03_networks_pytorch", {"accuracy": 0.97, "params": 1234}, device="cpu",
                        timings={"step": TIMING}, directory=tmp_path)
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


def test_metrics_must_be_plain_values(tmp_path):
    with pytest.raises(TypeError, match=r"metric 'loss' is a list; .* \.item\(\)"):
        save_results("00_setup_pytorch", {"loss": [1.0]}, device="cpu", directory=tmp_path)
    with pytest.raises(TypeError, match="timing 't' must be a BenchmarkResult"):
        save_results("00_setup_pytorch", {}, device="cpu", timings={"t": 1.0}, directory=tmp_path)


def test_a_corrupt_file_is_named(tmp_path):
    (tmp_path / "00_setup_pytorch.json").write_text("{not json")
    with pytest.raises(ValueError, match="00_setup_pytorch.json is not valid JSON"):
        load_results(tmp_path)
    assert json.loads(json.dumps(load_results(tmp_path / "none"))) == {}
