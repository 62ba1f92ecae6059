"""`coursekit run`: parameters injected with papermill, executed copies written, failures reported."""

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
    records = run_notebooks(find_notebooks([tmp_path]), out_dir=tmp_path / "out", root=tmp_path,
                            parameters={"epochs": 3})
    status = {r.notebook.name: r for r in records}
    assert status["good.ipynb"].status == "ok"
    assert status["bad.ipynb"].status == "failed" and "loss is NaN" in status["bad.ipynb"].error
    executed = nbformat.read(tmp_path / "out" / "good.ipynb", as_version=4)
    assert any("trained 3" in o.get("text", "") for o in executed.cells[-1].outputs)
    text = str(summary(records))
    assert "bad.ipynb" in text and "failed" in text and "ok" in text


@pytest.mark.parametrize("text, expected", [("epochs=3", ("epochs", 3)), ("device=cuda", ("device", "cuda")),
                                            ("lr=1e-3", ("lr", 0.001)), ("sizes=[1, 2]", ("sizes", [1, 2]))])
def test_parameters_parse_as_python_literals(text, expected):
    assert parse_parameter(text) == expected


def test_bad_parameters_and_paths_are_named(tmp_path):
    with pytest.raises(ValueError, match="'epochs' is not of the form name=value"):
        parse_parameter("epochs")
    with pytest.raises(FileNotFoundError, match="nothing.ipynb: no such notebook or folder"):
        find_notebooks([tmp_path / "nothing.ipynb"])
