"""coursekit.plots: figures from small data, clear errors, and live output updated in place."""

import base64

import matplotlib
import nbformat
import pytest
from matplotlib.figure import Figure

from coursekit import plots
from coursekit.results import save_results
from coursekit.timing import BenchmarkResult
from helpers import run_python


def lines(fig):
    return {line.get_label(): line for line in fig.axes[0].get_lines()}


class FakeDisplay:
    """Stands in for IPython's display in a kernel: records what was shown and each in-place update."""

    def __init__(self):
        self.shown, self.updates = [], []

    def __call__(self, obj, raw=False, display_id=None):
        self.shown.append(obj)
        return self if display_id else None

    def update(self, obj, raw=False):
        self.updates.append(obj)


@pytest.fixture
def display(monkeypatch):
    fake = FakeDisplay()
    monkeypatch.setattr(plots, "_displayer", lambda: fake)
    return fake


def test_importing_coursekit_imports_no_plotting_library():
    out = run_python(
        "import sys, coursekit; coursekit.plots.curves; "
        "print([m for m in ('matplotlib', 'ipywidgets', 'IPython') if m in sys.modules])"
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_framework_colours_are_the_same_everywhere():
    torch_like = plots.colours(["PyTorch", "torch", "pytorch (lr 0.1)", "01_fit_pytorch"])
    tf_like = plots.colours(["TensorFlow", "tf", "tf.function", "01_fit_tensorflow"])
    assert set(torch_like) == {plots.TORCH_COLOUR} and set(tf_like) == {plots.TF_COLOUR}
    others = plots.colours(["NumPy", "stuff", "tfx"])  # "tfx" is not TensorFlow
    assert len(set(others)) == 3 and not {plots.TORCH_COLOUR, plots.TF_COLOUR} & set(others)


def test_curves_plots_lists_against_their_index_and_pairs_against_x():
    fig = plots.curves(
        {"TensorFlow": [3.0, 2.0, 1.0], "PyTorch": ([10, 20], [5.0, 4.0])},
        xlabel="step",
        ylabel="loss",
        title="fit",
        logy=True,
    )
    assert isinstance(fig, Figure)
    drawn = lines(fig)
    assert list(drawn["TensorFlow"].get_xdata()) == [0, 1, 2]
    assert list(drawn["PyTorch"].get_xdata()) == [10, 20] and list(drawn["PyTorch"].get_ydata()) == [5.0, 4.0]
    assert drawn["PyTorch"].get_color() == plots.TORCH_COLOUR
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title(), ax.get_yscale()) == ("step", "loss", "fit", "log")
    assert fig._repr_png_().startswith(b"\x89PNG")  # a cell ending with the figure shows it


def test_curves_draws_on_a_given_axes():
    host, (ax1, ax2) = plots.new_figure(2)
    assert plots.curves({"a": [1, 2]}, xlabel="x", ylabel="y", ax=ax2) is host
    assert not ax1.get_lines() and len(ax2.get_lines()) == 1


@pytest.mark.parametrize(
    ("series", "error", "message"),
    [
        ({}, ValueError, "non-empty mapping"),
        ({"loss": []}, ValueError, "'loss' has no values"),
        ({"loss": ["a", 1]}, TypeError, r"'loss'\[0\]: expected a number, got str 'a'"),
        ({"loss": 0.5}, TypeError, "'loss': expected a sequence of numbers, got float '0.5'"),
        ({"loss": ([1, 2, 3], [1, 2])}, ValueError, "x has 3 values but y has 2"),
    ],
)
def test_curves_bad_input(series, error, message):
    with pytest.raises(error, match=message):
        plots.curves(series, xlabel="x", ylabel="y")


def test_bars_with_errors():
    fig = plots.bars({"PyTorch": 2.0, "TensorFlow": 3.0}, ylabel="s", errors={"TensorFlow": 0.5})
    heights = [p.get_height() for p in fig.axes[0].patches]
    assert heights == [2.0, 3.0]
    assert [p.get_facecolor()[:3] for p in fig.axes[0].patches] == [
        matplotlib.colors.to_rgb(plots.TORCH_COLOUR),
        matplotlib.colors.to_rgb(plots.TF_COLOUR),
    ]
    with pytest.raises(ValueError, match=r"errors for \['JAX'\] have no bar; the bars are"):
        plots.bars({"PyTorch": 2.0}, ylabel="s", errors={"JAX": 1.0})
    with pytest.raises(TypeError, match="'PyTorch': expected a number, got str 'fast'"):
        plots.bars({"PyTorch": "fast"}, ylabel="s")
    with pytest.raises(ValueError, match="non-empty mapping"):
        plots.bars({}, ylabel="s")


def test_timings_draw_medians_with_the_iqr_in_a_readable_unit():
    eager = BenchmarkResult("eager", 2e-3, 1.5e-3, 2.5e-3, 9, 10, 3)
    fig = plots.timings([eager, BenchmarkResult("compiled", 1e-3, 0.9e-3, 1.2e-3, 9, 10, 3).as_dict()])
    ax = fig.axes[0]
    assert [round(p.get_height(), 6) for p in ax.patches] == [2.0, 1.0]
    assert ax.get_ylabel().startswith("time per call (ms)")
    with pytest.raises(TypeError, match=r"non-empty list of coursekit.benchmark results"):
        plots.timings([])


def test_twins_reads_saved_results(tmp_path):
    for framework, accuracy in (("pytorch", 0.9), ("tensorflow", 0.8)):
        save_results(f"05_cnn_{framework}", {"accuracy": accuracy}, device="cpu", directory=tmp_path)
    fig = plots.twins("05_cnn", "accuracy", directory=tmp_path)
    assert [p.get_height() for p in fig.axes[0].patches] == [0.9, 0.8]
    assert fig.axes[0].get_title() == "05_cnn: accuracy"
    with pytest.raises(KeyError, match="05_cnn_pytorch saved no metric 'loss'; its metrics are: accuracy"):
        plots.twins("05_cnn", "loss", directory=tmp_path)
    with pytest.raises(
        FileNotFoundError,
        match=r"no saved results for 06_rnn_pytorch in .*: run "
        r"notebooks/06_rnn/06_rnn_pytorch\.ipynb first",
    ):
        plots.twins("06_rnn", "accuracy", directory=tmp_path)


def test_twins_draws_curves_and_rejects_mixed_kinds():
    results = {
        f"01_fit_{fw}": {"metrics": {"loss": [3.0, 2.0, 1.5], "final": 1.5, "name": "x"}}
        for fw in ("pytorch", "tensorflow")
    }
    fig = plots.twins("01_fit", "loss", results=results, ylabel="MSE")
    assert set(lines(fig)) == {"PyTorch", "TensorFlow"} and fig.axes[0].get_ylabel() == "MSE"
    results["01_fit_tensorflow"]["metrics"]["loss"] = 1.5
    with pytest.raises(TypeError, match="a number in both twins or a list of numbers in both"):
        plots.twins("01_fit", "loss", results=results)
    with pytest.raises(TypeError, match="'name' must be a number"):
        plots.twins("01_fit", "name", results=results)
    with pytest.raises(FileNotFoundError, match="01_fit_tensorflow in the given results"):
        plots.twins("01_fit", "loss", results={"01_fit_pytorch": results["01_fit_pytorch"]})
    with pytest.raises(ValueError, match="not a module id like '01_tensors_autodiff'"):
        plots.twins("01_fit_pytorch.ipynb", "loss", results=results)


def test_liveplot_in_a_script_prints_one_summary(capsys):
    with plots.LivePlot([("train", "val"), "acc"], title="fit") as live:
        for step in range(30):
            live.update(step, train=1 / (step + 1), acc=step / 30, **({"val": 2.0} if step % 10 == 0 else {}))
    assert capsys.readouterr().out == "fit: 30 updates; last: train 0.03333, val 2, acc 0.9667\n"
    assert len(live.figure.axes) == 2
    assert list(lines(live.figure)["val"].get_xdata()) == [0.0, 10.0, 20.0]  # the figure is complete


def test_liveplot_in_a_notebook_redraws_in_place_and_throttles(display, monkeypatch):
    with plots.LivePlot(["loss"]) as live:
        for step in range(50):
            live.update(step, loss=1 / (step + 1))
    # Fast updates: the first draws, the close draws the final state into the same output.
    assert len(display.shown) == 1 and len(display.updates) == 1
    assert base64.b64decode(display.updates[0]["image/png"]).startswith(b"\x89PNG")

    monkeypatch.setattr(plots, "REDRAW_SECONDS", 0.0)
    monkeypatch.setattr(plots, "DRAW_SHARE", 1e9)
    with plots.LivePlot(["loss"], every=10) as live:
        for step in range(50):
            live.update(step, loss=1.0)
    assert len(display.shown) == 2 and len(display.updates) == 1 + 4  # steps 9, 19, ..., 49; nothing stale


def test_liveplot_bad_input():
    with pytest.raises(ValueError, match="distinct non-empty key names"):
        plots.LivePlot(["loss", "loss"])
    with pytest.raises(ValueError, match="every must be an integer ≥ 1, got 0"):
        plots.LivePlot(["loss"], every=0)
    live = plots.LivePlot(["loss"])
    with pytest.raises(ValueError, match=r"unknown keys \['acc'\]; this LivePlot has \['loss'\]"):
        live.update(0, acc=1.0)
    with pytest.raises(TypeError, match="loss at step 0: expected a number, got str 'nan-ish'"):
        live.update(0, loss="nan-ish")


def draw_line(lr, steps=3):
    return plots.curves({"PyTorch": [lr * i for i in range(steps)]}, xlabel="step", ylabel="w")


def test_explore_shows_controls_and_redraws_on_change(display):
    plots.explore(draw_line, lr=[0.1, 0.5, 1.0], steps=(2, 10, 1))
    box, first = display.shown
    lr, steps = box.children
    assert (type(lr).__name__, lr.value, type(steps).__name__, steps.value) == ("SelectionSlider", 0.1, "IntSlider", 2)
    assert first["image/png"] and not display.updates
    lr.value = 1.0
    assert len(display.updates) == 1 and display.updates[0]["image/png"] != first["image/png"]
    steps.value = 1  # below min: the slider clamps it to 2, a change from 2 to 2 is no change
    assert len(display.updates) == 1


def test_explore_float_slider_default_and_errors_inside_callbacks(display):
    def draw(lr):
        if lr > 0.5:
            raise ValueError("diverged")
        return draw_line(lr)

    plots.explore(draw, lr=(0.0, 1.0, 0.05, 0.25))
    (slider,) = display.shown[0].children
    assert (type(slider).__name__, slider.value, slider.readout_format) == ("FloatSlider", 0.25, ".2f")
    slider.value = 0.9
    assert display.updates[-1] == {"text/plain": "ValueError: diverged"}


def test_explore_outside_a_notebook_draws_the_default(capsys):
    plots.explore(draw_line, lr=[0.1, 0.5])
    assert capsys.readouterr().out == "explore: widgets need a notebook; drew lr=0.1\n"


@pytest.mark.parametrize(
    ("draw", "controls", "error", "message"),
    [
        (draw_line, {}, ValueError, "at least one control"),
        ("draw_line", {"lr": [0.1]}, TypeError, "needs a function that returns a Figure, got str"),
        (lambda lr: None, {"lr": [0.1]}, TypeError, "must return a matplotlib Figure .* got NoneType"),
        (draw_line, {"lr": []}, ValueError, r"control lr=\[\]: give a non-empty list"),
        (draw_line, {"lr": 0.1}, ValueError, "control lr=0.1: give"),
        (draw_line, {"lr": (1.0, 0.0, 0.1)}, ValueError, r"\(min, max, step\) or \(min, max, step, default\)"),
        (draw_line, {"lr": (0.0, 1.0)}, ValueError, "control lr="),
    ],
)
def test_explore_bad_input(draw, controls, error, message):
    with pytest.raises(error, match=message):
        plots.explore(draw, **controls)


NOTEBOOK = [
    # Count the in-place updates the kernel sends, and redraw as often as the time limit allows.
    """import time
from IPython.display import DisplayHandle
from coursekit import plots
plots.DRAW_SHARE = 1.0
updates = []
_update = DisplayHandle.update
DisplayHandle.update = lambda self, obj, **kw: (updates.append(1), _update(self, obj, **kw))[1]""",
    """with plots.LivePlot(["loss"], title="fit") as live:
    for step in range(50):
        live.update(step, loss=1 / (step + 1))
        time.sleep(0.03)""",
    "print(len(updates))",
    """import matplotlib.pyplot as plt
def draw(lr):
    fig, ax = plt.subplots()  # a pyplot figure: explore closes it so that it is not shown twice
    ax.plot([0, lr])
    return fig
plots.explore(draw, lr=[0.1, 0.5])""",
    "plots.curves({'PyTorch': [1, 2]}, xlabel='step', ylabel='loss')",
]


@pytest.mark.parametrize("backend", ["Agg", "module://matplotlib_inline.backend_inline"])
def test_in_a_kernel_each_live_figure_is_one_output(backend, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("MPLBACKEND", backend)  # the kernel inherits it
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in NOTEBOOK])
    NotebookClient(notebook, timeout=120, kernel_name="python3").execute()
    kinds = [
        [mime for o in cell.outputs for mime in o.get("data", {}) if mime != "text/plain"] for cell in notebook.cells
    ]
    assert kinds[1] == ["image/png"], "LivePlot must update one output in place"
    assert int(notebook.cells[2].outputs[0]["text"]) >= 2, "LivePlot should have redrawn during the loop"
    assert kinds[3] == ["application/vnd.jupyter.widget-view+json", "image/png"]
    assert kinds[4] == ["image/png"]
