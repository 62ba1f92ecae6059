"""The course model: one table of frameworks with every accepted spelling, and notebook ids from paths."""

from pathlib import Path

import pytest

from coursekit.course import FRAMEWORKS, NotebookId, framework, parse_results_id, twin_of
from helpers import needs, run_python


@pytest.mark.parametrize(
    "spelling, key",
    [
        ("torch", "torch"),
        ("PyTorch", "torch"),
        (" pytorch ", "torch"),
        ("tensorflow", "tensorflow"),
        ("TF", "tensorflow"),
    ],
)
def test_every_accepted_spelling_names_one_framework(spelling, key):
    assert framework(spelling) is FRAMEWORKS[key]


@pytest.mark.parametrize("bad", ["jax", "", "torchh", None, 3, ["torch"]])
def test_anything_else_is_refused_naming_the_accepted_spellings(bad):
    with pytest.raises(ValueError, match=r"expected one of pytorch, tensorflow, tf, torch"):
        framework(bad)


def test_twins_and_titles_come_from_the_path():
    nb = NotebookId.parse(Path("solutions/01_tensors_autodiff/01_tensors_autodiff_tensorflow.ipynb"))
    assert (nb.kind, nb.module, nb.framework) == ("solutions", "01_tensors_autodiff", FRAMEWORKS["tensorflow"])
    assert nb.twin == Path("solutions/01_tensors_autodiff/01_tensors_autodiff_pytorch.ipynb")
    assert nb.title == "# 01 · Tensors and automatic differentiation (solutions) — TensorFlow"
    assert twin_of(FRAMEWORKS["torch"]) is FRAMEWORKS["tensorflow"]


def test_results_ids_name_module_and_framework():
    assert parse_results_id("01_tensors_autodiff_pytorch") == ("01_tensors_autodiff", FRAMEWORKS["torch"])
    with pytest.raises(ValueError, match="is not of the form NN_slug_pytorch"):
        parse_results_id("01_tensors_autodiff_jax")


@pytest.mark.parametrize(
    "spelling", [pytest.param("pytorch", marks=needs("torch")), pytest.param("tf", marks=needs("tensorflow"))]
)
def test_doctor_accepts_every_spelling(spelling):
    out = run_python(
        f"import sys; from coursekit.cli import main; sys.exit(main(['doctor', '--framework', '{spelling}']))"
    )
    assert out.returncode == 0, out.stderr
    assert ("torch " if spelling == "pytorch" else "tensorflow ") in out.stdout


def test_doctor_names_the_spellings_it_accepts():
    out = run_python("import sys; from coursekit.cli import main; sys.exit(main(['doctor', '--framework', 'jax']))")
    assert out.returncode == 2 and "expected one of pytorch, tensorflow, tf, torch" in out.stderr
