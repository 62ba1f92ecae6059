"""The course's figures: curves and bars of the two twins, a live plot for loops, a widget control.

matplotlib, IPython and ipywidgets are imported inside the functions. Figures are made without
pyplot, so the inline backend never shows one a second time; they show themselves as PNG when a
cell ends with one, and live plots go through a display handle, updated in place: JupyterLab
redraws the same output while the loop runs, and a notebook run unattended (papermill, nbval)
keeps one final figure.
"""

from __future__ import annotations

import base64
import functools
import io
import math
import re
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Self

from coursekit.course import FRAMEWORKS
from coursekit.results import load_results, results_dir
from coursekit.timing import BenchmarkResult

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# Okabe-Ito colours (readable with colour blindness): one per framework across the whole course.
TORCH_COLOUR, TF_COLOUR = "#D55E00", "#0072B2"
OTHER_COLOURS = ("#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442")
# A label names a framework when it holds one of the course's spellings of it as a word.
_FRAMEWORK = [
    (re.compile(rf"(?<![a-z])({'|'.join(FRAMEWORKS[key].aliases)})(?![a-z0-9])"), colour)
    for key, colour in (("torch", TORCH_COLOUR), ("tensorflow", TF_COLOUR))
]
# Live plots redraw at most 4 times a second, and rarely enough that drawing takes at most a tenth
# of the loop's time (a PNG of a small figure takes 0.1-0.3 s on a 2-core laptop).
REDRAW_SECONDS, DRAW_SHARE = 0.25, 0.1


def colours(labels: Sequence[str]) -> list[str]:
    """A colour per label: the framework's colour when a label names one, else the next free colour."""
    others = iter(OTHER_COLOURS * (len(labels) // len(OTHER_COLOURS) + 1))
    return [
        next((c for pattern, c in _FRAMEWORK if pattern.search(str(label).lower())), None) or next(others)
        for label in labels
    ]


@functools.cache
def _figure_class() -> type:
    from matplotlib.figure import Figure

    class ShownFigure(Figure):
        """A figure outside pyplot that Jupyter shows as a PNG, whatever the backend."""

        def _repr_png_(self) -> bytes:
            return png(self)

    ShownFigure.__name__ = ShownFigure.__qualname__ = "Figure"
    return ShownFigure


def png(fig: Figure) -> bytes:
    """The figure as PNG bytes."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def _bundle(fig: Figure) -> dict[str, str]:
    """What Jupyter shows for a figure, rendered here so that it does not depend on the backend."""
    return {"image/png": base64.b64encode(png(fig)).decode("ascii"), "text/plain": repr(fig)}


def new_figure(ncols: int = 1, width: float = 5.0, height: float = 3.2) -> tuple[Figure, list]:
    """A figure with `ncols` axes side by side, made without pyplot (no duplicate inline output)."""
    fig = _figure_class()(figsize=(width * ncols, height), layout="constrained")
    return fig, [fig.add_subplot(1, ncols, i + 1) for i in range(ncols)]


def _number(label: str, value: Any) -> float:
    try:
        return float(value)  # also a 0-d tensor or a NumPy scalar
    except (TypeError, ValueError) as err:
        raise TypeError(f"{label}: expected a number, got {type(value).__name__} {str(value)[:60]!r}") from err


def _numbers(label: str, values: Any) -> list[float]:
    if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
        raise TypeError(f"{label!r}: expected a sequence of numbers, got {type(values).__name__} {str(values)[:60]!r}")
    numbers = [_number(f"{label!r}[{i}]", v) for i, v in enumerate(values)]
    if not numbers:
        raise ValueError(f"{label!r} has no values to plot")
    return numbers


def curves(
    series: Mapping[str, Sequence[float] | tuple[Sequence[float], Sequence[float]]],
    *,
    xlabel: str,
    ylabel: str,
    title: str = "",
    logx: bool = False,
    logy: bool = False,
    ax: Any = None,
) -> Figure:
    """Labelled curves on one axes: a list of values is drawn against 0..n-1, an (x, y) pair against x."""
    if not isinstance(series, Mapping) or not series:
        raise ValueError(f"curves needs a non-empty mapping label -> values or (x, y), got {series!r}")
    if ax is None:
        _, (ax,) = new_figure()
    for (label, data), colour in zip(series.items(), colours(list(series)), strict=True):
        if isinstance(data, tuple) and len(data) == 2 and all(hasattr(d, "__len__") for d in data):
            x, y = _numbers(f"{label} (x)", data[0]), _numbers(f"{label} (y)", data[1])
            if len(x) != len(y):
                raise ValueError(f"{label!r}: x has {len(x)} values but y has {len(y)}; give them equal lengths")
        else:
            y = _numbers(label, data)
            x = list(range(len(y)))
        ax.plot(x, y, label=label, color=colour, marker="o" if len(y) < 20 else None, markersize=3)
    ax.set(
        xlabel=xlabel,
        ylabel=ylabel,
        title=title,
        xscale="log" if logx else "linear",
        yscale="log" if logy else "linear",
    )
    ax.grid(alpha=0.3)
    ax.legend()
    return ax.figure


def _bars(labels: list[str], values: list[float], yerr: Any, ylabel: str, title: str) -> Figure:
    fig, (ax,) = new_figure(width=max(3.0, 1.1 * len(labels) + 1.5))
    bars = ax.bar(labels, values, yerr=yerr, capsize=4, color=colours(labels))
    ax.bar_label(bars, fmt="%.3g", padding=4)
    ax.margins(y=0.15)
    ax.set(ylabel=ylabel, title=title)
    ax.grid(axis="y", alpha=0.3)
    return fig


def bars(
    values: Mapping[str, float], *, ylabel: str, title: str = "", errors: Mapping[str, float] | None = None
) -> Figure:
    """Labelled bars, with optional error bars (± errors[label]) for some or all of them."""
    if not isinstance(values, Mapping) or not values:
        raise ValueError(f"bars needs a non-empty mapping label -> number, got {values!r}")
    errors = dict(errors or {})
    unknown = sorted(set(errors) - set(values))
    if unknown:
        raise ValueError(f"errors for {unknown} have no bar; the bars are {sorted(values)}")
    labels = list(values)
    numbers = [_number(repr(label), values[label]) for label in labels]
    yerr = [_number(f"errors[{k!r}]", errors.get(k, 0.0)) for k in labels] if errors else None
    return _bars(labels, numbers, yerr, ylabel, title)


def timings(results: Sequence[BenchmarkResult | Mapping[str, Any]], title: str = "") -> Figure:
    """Median time per call of each benchmark result (or its saved dict), with the IQR as error bar."""
    items = [BenchmarkResult.from_dict(r) if isinstance(r, Mapping) else r for r in results]
    if not items or not all(isinstance(r, BenchmarkResult) for r in items):
        raise TypeError(f"timings needs a non-empty list of coursekit.benchmark results, got {results!r}")
    longest = max(r.median for r in items)
    unit, scale = next(((u, s) for u, s in (("s", 1.0), ("ms", 1e-3), ("µs", 1e-6)) if longest >= s), ("ns", 1e-9))
    yerr = [[(r.median - r.q1) / scale for r in items], [(r.q3 - r.median) / scale for r in items]]
    return _bars(
        [r.label for r in items], [r.median / scale for r in items], yerr, f"time per call ({unit}); bars: IQR", title
    )


def twins(
    module: str,
    key: str,
    *,
    results: Mapping[str, Mapping] | None = None,
    directory: str | None = None,
    ylabel: str | None = None,
    xlabel: str = "step",
) -> Figure:
    """Metric `key` that both twins of `module` (e.g. '01_tensors_autodiff') saved: curves or bars."""
    if not re.fullmatch(r"\d\d_[a-z0-9_]+", str(module)):
        raise ValueError(f"module {module!r} is not a module id like '01_tensors_autodiff'")
    records = load_results(directory) if results is None else results
    where = "in the given results" if results is not None else f"in {directory or results_dir()}"
    metrics = {}
    for fw in FRAMEWORKS.values():
        notebook, name = f"{module}_{fw.slug}", fw.title
        if notebook not in records:
            raise FileNotFoundError(
                f"no saved results for {notebook} {where}: run "
                f"notebooks/{module}/{notebook}.ipynb first (it saves them)"
            )
        saved = records[notebook].get("metrics", {})
        if key not in saved:
            raise KeyError(f"{notebook} saved no metric {key!r}; its metrics are: {', '.join(sorted(saved))}")
        metrics[name] = saved[key]
    kinds = {
        name: "curve"
        if isinstance(v, list)
        else "number"
        if isinstance(v, (int, float)) and not isinstance(v, bool)
        else type(v).__name__
        for name, v in metrics.items()
    }
    title = f"{module}: {key}"
    if set(kinds.values()) == {"curve"}:
        return curves(metrics, xlabel=xlabel, ylabel=ylabel or key, title=title)
    if set(kinds.values()) == {"number"}:
        return bars(metrics, ylabel=ylabel or key, title=title)
    raise TypeError(f"metric {key!r} must be a number in both twins or a list of numbers in both; got {kinds}")


def _displayer() -> Callable[..., Any] | None:
    """IPython's display when running in a Jupyter kernel, else None (a plain script or terminal)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    shell = get_ipython()
    if shell is None or not hasattr(shell, "kernel"):
        return None
    from IPython.display import display

    return display


class LivePlot:
    """Curves that grow while a loop runs, redrawn in place; one final figure once closed.

    keys: one panel each; a tuple of keys shares a panel (e.g. ("train loss", "val loss")).
    every: consider a redraw only every `every` updates (every value is kept either way).
    In a notebook the figure is one output, updated in place; in a script, close() prints a summary
    (the figure is still in `.figure`, e.g. to save).
    >>> with LivePlot(["loss"]) as live:
    ...     for step in range(100):
    ...         live.update(step, loss=float(loss))
    """

    def __init__(
        self, keys: Sequence[str | Sequence[str]], *, title: str = "", xlabel: str = "step", every: int = 1
    ) -> None:
        panels = [[k] if isinstance(k, str) else list(k) for k in ([keys] if isinstance(keys, str) else keys)]
        names = [k for panel in panels for k in panel]
        if not names or not all(isinstance(k, str) and k for k in names) or len(set(names)) < len(names):
            raise ValueError(f"LivePlot needs distinct non-empty key names, got {keys!r}")
        if isinstance(every, bool) or not isinstance(every, int) or every < 1:
            raise ValueError(f"every must be an integer ≥ 1, got {every!r}")
        self.every, self.title, self.updates = every, title, 0
        self.points: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in names}
        self.figure, axes = new_figure(len(panels), width=4.5)
        self._lines = {}
        for ax, panel in zip(axes, panels, strict=True):
            for key, colour in zip(panel, colours(panel), strict=True):
                (self._lines[key],) = ax.plot([], [], label=key, color=colour)
            ax.set(xlabel=xlabel, title=" / ".join(panel) if len(panels) > 1 else title)
            ax.grid(alpha=0.3)
            ax.legend(loc="best")
        if title and len(panels) > 1:
            self.figure.suptitle(title)
        self._display, self._handle, self._next_draw, self._stale = _displayer(), None, -math.inf, False

    def update(self, step: float, **values: float) -> None:
        """Record values (numbers or 0-d tensors) at `step`; redraw if the last redraw is old enough."""
        unknown = sorted(set(values) - set(self.points))
        if unknown:
            raise ValueError(f"unknown keys {unknown}; this LivePlot has {list(self.points)}")
        for key, value in values.items():
            y = _number(f"{key} at step {step}", value)
            self.points[key][0].append(_number("step", step))
            self.points[key][1].append(y)
        self.updates += 1
        self._stale = True
        if self._display and self.updates % self.every == 0 and time.monotonic() >= self._next_draw:
            self._draw()

    def _draw(self) -> None:
        start = time.monotonic()
        for key, line in self._lines.items():
            line.set_data(*self.points[key])
        for ax in self.figure.axes:
            ax.relim()
            ax.autoscale_view()
        if self._display is not None and self._handle is None:
            self._handle = self._display(_bundle(self.figure), raw=True, display_id=True)
        elif self._display is not None:
            self._handle.update(_bundle(self.figure), raw=True)
        end = time.monotonic()
        self._next_draw, self._stale = end + max(REDRAW_SECONDS, (end - start) / DRAW_SHARE), False

    def close(self) -> None:
        """Draw the final state once: in a notebook into the same output; in a script, print a summary."""
        if self._stale:
            self._draw()
        if self._display is None:
            last = ", ".join(f"{k} {ys[-1]:.4g}" for k, (_, ys) in self.points.items() if ys)
            print(f"{self.title or 'LivePlot'}: {self.updates} updates; last: {last or 'none'}")

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _control(name: str, spec: Any) -> Any:
    import ipywidgets as widgets

    common = {"description": name, "continuous_update": False, "style": {"description_width": "initial"}}
    if isinstance(spec, list) and spec:
        return widgets.SelectionSlider(options=spec, value=spec[0], **common)
    if (
        isinstance(spec, tuple)
        and len(spec) in (3, 4)
        and spec[1] > spec[0]
        and spec[2] > 0
        and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in spec)
    ):
        low, high, step, value = (*spec, spec[0])[:4]
        if all(isinstance(v, int) for v in spec):
            return widgets.IntSlider(min=low, max=high, step=step, value=value, **common)
        digits = max(2, -math.floor(math.log10(step)))
        return widgets.FloatSlider(min=low, max=high, step=step, value=value, readout_format=f".{digits}f", **common)
    raise ValueError(
        f"control {name}={spec!r}: give a non-empty list of values (e.g. [0.01, 0.1, 1.0]) "
        "or a tuple (min, max, step) or (min, max, step, default) with min < max and step > 0"
    )


def explore(draw: Callable[..., Figure], **controls: Any) -> None:
    """Sliders for draw's parameters, above the figure draw(**values) returns, redrawn on each change.

    controls: name=[values] (a slider over those values, starting at the first) or
    name=(min, max, step[, default]) (a number slider; integers give an integer slider).
    """
    from matplotlib.figure import Figure

    if not callable(draw):
        raise TypeError(f"explore needs a function that returns a Figure, got {type(draw).__name__}: {draw!r}")
    if not controls:
        raise ValueError("explore needs at least one control, e.g. explore(draw, lr=[0.01, 0.1, 1.0])")
    sliders = {name: _control(name, spec) for name, spec in controls.items()}

    def figure() -> Figure:
        fig = draw(**{name: s.value for name, s in sliders.items()})
        if not isinstance(fig, Figure):
            raise TypeError(
                f"explore's draw must return a matplotlib Figure (e.g. coursekit.plots.curves(...)), "
                f"got {type(fig).__name__}: {fig!r}"
            )
        pyplot = sys.modules.get("matplotlib.pyplot")
        if pyplot is not None:
            pyplot.close(fig)  # a pyplot figure would otherwise be shown again at the end of the cell
        return fig

    first, display = figure(), _displayer()
    if display is None:
        print(f"explore: widgets need a notebook; drew {', '.join(f'{k}={s.value}' for k, s in sliders.items())}")
        return
    import ipywidgets as widgets

    display(widgets.VBox(list(sliders.values())))
    handle = display(_bundle(first), raw=True, display_id=True)

    def redraw(_change: Any) -> None:
        try:
            handle.update(_bundle(figure()), raw=True)
        except Exception as err:
            handle.update({"text/plain": f"{type(err).__name__}: {err}"}, raw=True)

    for slider in sliders.values():
        slider.observe(redraw, names="value")
