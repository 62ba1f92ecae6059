"""`coursekit run`: parameters injected with papermill, executed copies written, failures reported."""

import re

import nbformat
import pytest

from coursekit.runner import find_notebooks, parse_parameter, run_notebooks, summary


def make_notebook(path, body):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("epochs = 1")
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_runs_injects_parameters_and_reports(tmp_path):
    make_notebook(tmp_path / "good.ipynb", "assert epochs == 3, epochs\nprint('trained', epochs)")
    make_notebook(tmp_path / "bad.ipynb", "raise RuntimeError('loss is NaN')")
    records = run_notebooks(
        find_notebooks([tmp_path]), out_dir=tmp_path / "out", root=tmp_path, parameters={"epochs": 3}
    )
    status = {r.notebook.name: r for r in records}
    assert status["good.ipynb"].status == "ok"
    assert status["bad.ipynb"].status == "failed" and "loss is NaN" in status["bad.ipynb"].error
    executed = nbformat.read(tmp_path / "out" / "good.ipynb", as_version=4)
    assert any("trained 3" in o.get("text", "") for o in executed.cells[-1].outputs)
    text = str(summary(records))
    assert "bad.ipynb" in text and "failed" in text and "ok" in text


@pytest.mark.parametrize(
    "text, expected",
    [
        ("epochs=3", ("epochs", 3)),
        ("device=cuda", ("device", "cuda")),
        ("lr=1e-3", ("lr", 0.001)),
        ("sizes=[1, 2]", ("sizes", [1, 2])),
        ("epochs = 3", ("epochs", 3)),
        ("note={[]: 1}", ("note", "{[]: 1}")),
    ],
)
def test_parameters_parse_as_python_literals(text, expected):
    assert parse_parameter(text) == expected


def test_bad_parameters_and_paths_are_named(tmp_path):
    with pytest.raises(ValueError, match="'epochs' is not of the form name=value"):
        parse_parameter("epochs")
    with pytest.raises(FileNotFoundError, match=r"nothing.ipynb: no such notebook or folder"):
        find_notebooks([tmp_path / "nothing.ipynb"])


@pytest.mark.parametrize(
    "text, message",
    [
        ("class=3", "'class=3' is not of the form name=value"),
        ("=3", "'=3' is not of the form name=value"),
        ("sizes=(1, 2)", "papermill can pass None, strings, booleans, numbers, lists and dicts"),
        ("sizes=[{1, 2}]", "not a tuple, set, complex number or bytes"),
        (3, "parameter must be a string, e.g. 'epochs=3', got 3 (an int)"),
    ],
)
def test_parameters_papermill_cannot_pass_are_refused(text, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        parse_parameter(text)


def test_paths_are_checked_before_anything_runs(tmp_path):
    make_notebook(tmp_path / "good.ipynb", "pass")
    assert find_notebooks(tmp_path) == find_notebooks(str(tmp_path)) == [tmp_path / "good.ipynb"]  # one path
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(ValueError, match=r"notes.txt: not a notebook"):
        find_notebooks([tmp_path / "notes.txt"])
    with pytest.raises(TypeError, match="paths must be a path or a list of paths, got 3"):
        find_notebooks(3)
    good = [tmp_path / "good.ipynb"]
    cases = [
        ({"timeout": 0}, ValueError, "timeout must be a whole number of seconds from 1 to 86400 (a day), got 0"),
        ({"timeout": 1.5}, ValueError, "timeout must be a whole number of seconds from 1 to 86400 (a day), got 1.5"),
        ({"parameters": {"class": 1}}, ValueError, "parameter name 'class' is not a Python variable name"),
        ({"parameters": [1]}, ValueError, "parameters must be a dict"),
        ({"root": tmp_path / "sub"}, ValueError, "is not inside the root folder"),
        ({"out_dir": tmp_path / "notes.txt" / "out"}, OSError, "cannot write executed notebooks to"),
    ]
    for kwargs, error, message in cases:
        with pytest.raises(error, match=re.escape(message)):
            run_notebooks(good, **{"out_dir": tmp_path / "out", "root": tmp_path, **kwargs})
    with pytest.raises(FileNotFoundError, match=r"gone.ipynb: no such notebook"):
        run_notebooks([tmp_path / "gone.ipynb"], out_dir=tmp_path / "out", root=tmp_path)
    with pytest.raises(TypeError, match="notebooks must be a list of notebook paths"):
        run_notebooks(tmp_path / "good.ipynb", out_dir=tmp_path / "out", root=tmp_path)
