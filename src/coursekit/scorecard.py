"""The scorecard: every lesson's saved results set side by side, one row per quantity both twins measured.

Each `Row` names a metric or a timing that a module's two lessons save under the same key; `build`
reads the records that `coursekit.results.load_results` returns, lists the modules not run yet
(never fails on them), and keeps the device and versions each number was measured with. A module
that adds a measurement adds a Row here and nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from coursekit import validate
from coursekit.course import FRAMEWORKS, MODULES, TWIN_AGREEMENT
from coursekit.tables import Table

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# How a quantity reads better: "lower" (a time), "higher" (a throughput), or "agree" (a quantity both twins must
# agree on, within the module's TWIN_AGREEMENT tolerance, else exactly).
BETTER = ("lower", "higher", "agree")
# Seconds shown in these units, by the scale a timing's median is multiplied by.
TIME_UNITS = {"s": 1.0, "ms": 1e3, "µs": 1e6}


@dataclass(frozen=True)
class Row:
    """One quantity both twins of a module save: a metric, or a timing's median (seconds, scaled to `unit`)."""

    module: str
    key: str
    label: str
    unit: str = ""
    source: str = "metric"  # "metric" or "timing"
    better: str = "agree"
    scale: float = 1.0  # the saved value times scale is shown in `unit` (a timing: seconds -> unit)

    def __post_init__(self) -> None:
        validate.choice("module", self.module, MODULES)
        validate.choice("source", self.source, ("metric", "timing"))
        validate.choice("better", self.better, BETTER)
        if self.source == "timing" and self.unit not in TIME_UNITS:
            raise ValueError(
                f"{self.module} {self.key}: a timing is shown in {', '.join(TIME_UNITS)}, got {self.unit!r}"
            )

    def value(self, record: Mapping[str, Any]) -> float | None:
        """This row's number in one saved record, in `unit`; None when the record lacks it."""
        if self.source == "timing":
            timing = record.get("timings", {}).get(self.key)
            return None if timing is None else float(timing["median"]) * TIME_UNITS[self.unit]
        saved = record.get("metrics", {}).get(self.key)
        if isinstance(saved, bool) or not isinstance(saved, (int, float)):
            return None
        return float(saved) * self.scale


def _timing(module: str, key: str, label: str, unit: str = "ms") -> Row:
    return Row(module, key, label, unit, source="timing", better="lower")


ROWS: tuple[Row, ...] = (
    Row("00_setup", "import_seconds", "import the framework", "s", better="lower"),
    _timing("00_setup", "matmul 512 all threads", "512² matmul, all threads"),
    Row("01_tensors_autodiff", "ms_per_step", "gradient step, cubic fit", "ms", better="lower"),
    Row("01_tensors_autodiff", "test_mse", "test MSE of the fit (same data, same answer)"),
    _timing("02_execution_models", "small_op_eager", "small op, eager", "µs"),
    _timing("02_execution_models", "small_op_graph", "small op, graph", "µs"),
    _timing("02_execution_models", "train_step_eager", "training step, eager"),
    _timing("02_execution_models", "train_step_graph", "training step, graph"),
    Row("02_execution_models", "speedup_train_step", "graph speed-up of the step", "×", better="higher"),
    Row("02_execution_models", "traces_plain", "graphs for lengths 4, 8, 16, 16: plain"),
    Row("02_execution_models", "traces_signature", "graphs for lengths 4, 8, 16, 16: any length declared"),
    Row("03_networks", "params_classifier", "parameters, binary classifier"),
    Row("03_networks", "params_cnn", "parameters, digits CNN"),
    Row("03_networks", "canonical_logits_sum", "digits CNN's logits, the same weights (sum)"),
    Row("03_networks", "parity_max_abs_diff", "max |diff| from a float64 NumPy reference", "", better="lower"),
    Row("04_data_pipelines", "throughput_serial", "input pipeline, one process", "samples/s", better="higher"),
    Row("04_data_pipelines", "throughput_parallel", "input pipeline, parallel", "samples/s", better="higher"),
    Row("04_data_pipelines", "throughput_slow_reads_serial", "slow reads, one reader", "samples/s", better="higher"),
    Row("04_data_pipelines", "throughput_slow_reads_parallel", "slow reads, 4 readers", "samples/s", better="higher"),
    Row("05_training_loops", "test_accuracy", "test accuracy", "%", better="higher", scale=100.0),
    Row("05_training_loops", "epochs_to_97", "epochs to 97 %", "", better="lower"),
    Row("05_training_loops", "seconds_to_97", "time to 97 %", "s", better="lower"),
    Row("05_training_loops", "seconds_per_epoch", "time per epoch", "s", better="lower"),
    Row("06_debugging", "bugs", "bugs in the debugged script"),
    Row("06_debugging", "bugs_pointed", "bugs whose faulty line the framework's own output named", better="higher"),
    Row("06_debugging", "pointed_log0", "NaN from log(0): the NaN tool named the line (1) or not (0)", better="higher"),
    Row(
        "06_debugging",
        "pointed_shape",
        "shape error: the traceback named the faulty line (1) or not (0)",
        better="higher",
    ),
    Row("06_debugging", "steps_taken", "steps the debugged script took"),
    Row("06_debugging", "steps_counted_by_side_effect", "steps counted by a Python side effect in the step"),
    Row(
        "06_debugging",
        "val_accuracy_fixed",
        "validation accuracy, the debugged script",
        "%",
        better="higher",
        scale=100.0,
    ),
    _timing("06_debugging", "train_step", "training step, no debugging tool"),
    _timing("06_debugging", "train_step_nan_tool", "training step, NaN tool on"),
    _timing("07_compilation", "train_eager", "training step, eager"),
    _timing("07_compilation", "train_compiled", "training step, compiled (inductor / XLA)"),
    _timing("07_compilation", "infer_eager", "inference, eager"),
    _timing("07_compilation", "infer_compiled", "inference, compiled (inductor / XLA)"),
    Row("07_compilation", "speedup_train_compiled", "compiled speed-up, training step", "×", better="higher"),
    Row("07_compilation", "speedup_infer_compiled", "compiled speed-up, inference", "×", better="higher"),
    Row("07_compilation", "speedup_train_graph", "graph (no compiler) speed-up, training step", "×", better="higher"),
    Row("07_compilation", "compile_seconds_train_compiled", "one-off compile, training step", "s", better="lower"),
    Row("07_compilation", "compile_seconds_infer_compiled", "one-off compile, inference", "s", better="lower"),
    Row("07_compilation", "fusion_op_ratio", "operations after / before the compiler, inference", "", better="lower"),
    Row("07_compilation", "peak_memory_graph_mb", "peak memory, inference as a graph", "MB", better="lower"),
    Row("07_compilation", "peak_memory_compiled_mb", "peak memory, inference compiled", "MB", better="lower"),
    Row("07_compilation", "graphs_partial_batch", "graphs for an epoch with a short last batch"),
    _timing("08_performance", "step_fp32", "CNN training step, float32"),
    _timing("08_performance", "step_mixed", "CNN training step, mixed precision"),
    Row("08_performance", "step_ratio_mixed", "mixed / float32 step time", "×", better="lower"),
    Row(
        "08_performance", "accuracy_fp32", "test accuracy after a brief run, float32", "%", better="higher", scale=100.0
    ),
    Row(
        "08_performance", "accuracy_mixed", "test accuracy after a brief run, mixed", "%", better="higher", scale=100.0
    ),
    Row("08_performance", "matmul_ratio_bf16", "bfloat16 / float32 time, 256² matmul", "×", better="lower"),
    Row("08_performance", "checkpoint_memory_ratio", "peak memory with / without checkpointing", "×", better="lower"),
    Row("08_performance", "checkpoint_time_ratio", "step time with / without checkpointing", "×", better="lower"),
    Row("08_performance", "deep_parameters", "parameters, checkpointed deep network"),
    Row("08_performance", "block_forwards_checkpointed", "forward passes of a block per checkpointed step"),
    Row("09_distributed", "steps_per_s_1", "training steps per second, 1 worker", "steps/s", better="higher"),
    Row("09_distributed", "steps_per_s_2", "training steps per second, 2 worker processes", "steps/s", better="higher"),
    Row("09_distributed", "max_weight_diff_1_vs_2", "max |weight diff|, 2 workers vs 1 (float64)", "", better="lower"),
)


@dataclass(frozen=True)
class Line:
    """A row filled in: each framework's value (None when not measured) and where it was measured."""

    row: Row
    values: dict[str, float | None]  # framework slug -> value in row.unit
    ran_on: dict[str, str]  # framework slug -> "cpu · 2.13.0"

    @property
    def ratio(self) -> float | None:
        """PyTorch's value over TensorFlow's (None unless both are there and TensorFlow's is not 0)."""
        torch, tf = (self.values.get(fw.slug) for fw in FRAMEWORKS.values())
        return None if torch is None or tf is None or tf == 0 else torch / tf

    @property
    def verdict(self) -> str:
        """Which framework did better on this machine and by what factor, or whether the twins agree."""
        torch, tf = (self.values.get(fw.slug) for fw in FRAMEWORKS.values())
        if torch is None or tf is None:
            return "not both measured"
        if self.row.better == "agree":
            how, tol = TWIN_AGREEMENT.get(self.row.module, {}).get(self.row.key, ("abs", 0.0))
            same = math.isclose(torch, tf, rel_tol=tol) if how == "rel" else abs(torch - tf) <= tol
            return "agree" if same else f"differ by {abs(torch - tf):.2g}"
        if torch == tf:
            return "tie"
        first_wins = (torch < tf) == (self.row.better == "lower")
        winner, best, worst = (
            (FRAMEWORKS["torch"].title, torch, tf) if first_wins else (FRAMEWORKS["tensorflow"].title, tf, torch)
        )
        if best == 0 or worst == 0 or (best < 0) != (worst < 0):
            return winner
        factor = worst / best if self.row.better == "lower" else best / worst
        return f"{winner} ×{factor:.0f}" if factor >= 10 else f"{winner} ×{factor:.2g}"


@dataclass
class Scorecard:
    """What this machine measured: the lines of every module run in both or either framework, and what is missing."""

    lines: list[Line] = field(default_factory=list)
    missing: dict[str, list[str]] = field(default_factory=dict)  # module -> framework titles without results

    @property
    def modules(self) -> list[str]:
        """The modules with at least one line, in course order."""
        return list(dict.fromkeys(line.row.module for line in self.lines))

    def table(self, modules: Sequence[str] | None = None) -> Table:
        """The side-by-side table (all modules, or those given), one row per quantity."""
        chosen = self.modules if modules is None else list(modules)
        titles = [fw.title for fw in FRAMEWORKS.values()]
        rows = []
        for line in self.lines:
            if line.row.module not in chosen:
                continue
            cells = [_shown(line.values.get(fw.slug), line.row.unit) for fw in FRAMEWORKS.values()]
            where = " / ".join(line.ran_on.get(fw.slug, "—") for fw in FRAMEWORKS.values())
            rows.append([line.row.module[:2], line.row.label, *cells, line.verdict, where])
        header = ["module", "quantity", *titles, "better here", f"ran on ({' / '.join(titles)})"]
        return Table(header, rows)

    def figure(self, unit: str, log: bool = False) -> Figure:
        """Horizontal bars of every quantity measured in `unit`, one bar per framework (its course colour)."""
        from coursekit.plots import colours, new_figure

        lines = [
            line for line in self.lines if line.row.unit == unit and any(v is not None for v in line.values.values())
        ]
        if not lines:
            units = sorted({line.row.unit for line in self.lines if line.row.unit})
            raise ValueError(
                f"no quantity measured in {unit!r} here; the units present are: {', '.join(units) or 'none'}"
            )
        fig, (ax,) = new_figure(width=7.0, height=0.9 + 0.55 * len(lines))
        height = 0.38
        for offset, (fw, colour) in enumerate(
            zip(FRAMEWORKS.values(), colours([fw.title for fw in FRAMEWORKS.values()]), strict=True)
        ):
            ys = [i + (offset - 0.5) * height for i in range(len(lines))]
            widths = [line.values.get(fw.slug) or 0.0 for line in lines]
            bars = ax.barh(ys, widths, height=height, color=colour, label=fw.title)
            ax.bar_label(bars, labels=[_shown(line.values.get(fw.slug), "") for line in lines], padding=3, fontsize=8)
        ax.set_yticks(range(len(lines)), [f"{line.row.module[:2]} {line.row.label}" for line in lines])
        ax.invert_yaxis()
        ax.set(xlabel=unit or "value", xscale="log" if log else "linear")
        ax.margins(x=0.2)
        ax.legend(loc="best")
        ax.grid(axis="x", alpha=0.3)
        return fig

    def units(self) -> list[str]:
        """The units with at least one measured quantity, for a figure each."""
        return list(
            dict.fromkeys(
                line.row.unit
                for line in self.lines
                if line.row.unit and any(v is not None for v in line.values.values())
            )
        )


def build(records: Mapping[str, Mapping[str, Any]], rows: Sequence[Row] = ROWS) -> Scorecard:
    """The scorecard of these saved records (notebook id -> record, as load_results returns them)."""
    records = validate.mapping("records", records, example="coursekit.load_results()")
    card = Scorecard()
    for module in MODULES:
        found = {fw.slug: records.get(f"{module}_{fw.slug}") for fw in FRAMEWORKS.values()}
        absent = [fw.title for fw in FRAMEWORKS.values() if found[fw.slug] is None]
        if absent:
            card.missing[module] = absent
        if len(absent) == len(FRAMEWORKS):
            continue
        ran_on = {slug: _ran_on(record) for slug, record in found.items() if record is not None}
        for row in rows:
            if row.module == module:
                values = {slug: (row.value(record) if record is not None else None) for slug, record in found.items()}
                card.lines.append(Line(row, values, ran_on))
    return card


def _ran_on(record: Mapping[str, Any]) -> str:
    version = record.get("versions", {}).get("framework") or "?"
    return f"{record.get('device', '?')} · {version}"


def _shown(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if math.isfinite(value) and value == int(value) and abs(value) < 1e7:
        text = f"{int(value):,}"
    else:
        text = f"{value:.3g}"
    return f"{text} {unit}".strip() if unit not in ("", "×") else (f"×{text}" if unit == "×" else text)


__all__ = ["ROWS", "Line", "Row", "Scorecard", "build"]
