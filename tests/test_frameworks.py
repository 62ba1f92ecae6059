"""coursekit imports no framework, and works for one framework while the other is missing."""

import re

import pytest

from coursekit.frameworks import FrameworkMissing, available, canonical, require
from helpers import needs, run_python


def test_import_imports_neither_framework():
    out = run_python("import coursekit, sys; print('torch' in sys.modules, 'tensorflow' in sys.modules)")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False False"


@needs("tensorflow")
def test_torch_hidden_tensorflow_still_works_and_torch_gets_a_clear_message():
    out = run_python(
        """
        import coursekit
        from coursekit.data import tf_dataset
        assert not coursekit.available("torch")
        x, y = next(iter(tf_dataset("moons", "train", batch_size=8)))
        print("tf batch", tuple(x.shape))
        print("best", coursekit.best_device("tensorflow"))
        try:
            coursekit.best_device("torch")
        except coursekit.FrameworkMissing as err:
            print("MISSING:", err)
        """,
        hide=("torch",),
    )
    assert out.returncode == 0, out.stderr
    assert "tf batch (8, 2)" in out.stdout
    assert "best /CPU:0" in out.stdout
    assert "MISSING: torch is not installed" in out.stdout
    assert "pip install torch==2.13" in out.stdout


@needs("torch")
def test_tensorflow_hidden_torch_still_works():
    out = run_python(
        """
        import coursekit
        from coursekit.data import torch_loader
        x, y = next(iter(torch_loader("digits", "train", batch_size=4)))
        print("torch batch", tuple(x.shape), coursekit.best_device("torch"))
        print(coursekit.seed_everything(1, frameworks=["torch"]))
        try:
            coursekit.require("tf")
        except coursekit.FrameworkMissing as err:
            print("MISSING:", err)
        """,
        hide=("tensorflow",),
    )
    assert out.returncode == 0, out.stderr
    assert re.search(r"torch batch \(4, 8, 8\) (cpu|cuda|mps)\n", out.stdout), out.stdout
    assert "['torch']" in out.stdout
    assert "MISSING: tensorflow is not installed" in out.stdout and "pip install tensorflow-cpu" in out.stdout


@needs("torch")
def test_doctor_exits_nonzero_and_says_how_to_install_a_missing_framework():
    out = run_python("import sys; from coursekit.cli import main; sys.exit(main(['doctor']))", hide=("tensorflow",))
    assert out.returncode == 1
    assert "MISSING" in out.stdout and "pip install tensorflow-cpu" in out.stdout
    assert "torch" in out.stdout and "missing: tensorflow" in out.stderr


@needs("torch", "tensorflow")
def test_doctor_reports_both_frameworks():
    out = run_python("import sys; from coursekit.cli import main; sys.exit(main(['doctor']))")
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert any(line.startswith("torch ") and "cpu" in line for line in lines), out.stdout
    assert any(line.startswith("tensorflow ") and "/CPU:0" in line for line in lines), out.stdout


@pytest.mark.parametrize("name", ["jax", "", "TORCHH"])
def test_unknown_framework_names_are_rejected_with_the_accepted_ones(name):
    with pytest.raises(ValueError, match="expected one of pytorch, tensorflow, tf, torch"):
        canonical(name)


@needs("torch", "tensorflow")
def test_available_does_not_import():
    import sys

    assert available("torch") and available("tf")
    assert isinstance(require("torch"), type(sys))
    assert issubclass(FrameworkMissing, ImportError)
