"""Property-based tests over coursekit's public API: every input either works or gets a clear error.

"Clear" means a ValueError (or its TypeError twin, coursekit.validate.WrongType) whose message
names the argument; never a crash from deep inside NumPy, scikit-learn or argparse, and never a
silent acceptance. Derandomized with no example database, so every run tries the same inputs.
"""

import contextlib
import io
import json
import math
import tempfile
from pathlib import Path

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from coursekit import BenchmarkResult, benchmark, compare, load_results, save_results, seed_everything
from coursekit.cli import main
from coursekit.data import DATASETS, load_split, torch_loader
from coursekit.results import schema
from coursekit.runner import PAPERMILL_TYPES, parse_parameter
from coursekit.tables import Table
from coursekit.timing import format_seconds
from helpers import ROOT

FAST = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)

# What a new user might pass anywhere: wrong types, huge and non-finite numbers, odd strings.
ANYTHING = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(),
    st.text(max_size=8),
    st.lists(st.integers(0, 9), max_size=3),
    st.binary(max_size=3),
    st.complex_numbers(max_magnitude=10),
)
FINITE = st.floats(allow_nan=False, allow_infinity=False, width=64)


def is_int(value):
    return isinstance(value, int) and not isinstance(value, bool)


def is_real(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@FAST
@given(ANYTHING)
def test_seed_everything_accepts_exactly_the_seeds_numpy_accepts(seed):
    if is_int(seed) and 0 <= seed < 2**32:
        assert seed_everything(seed, frameworks=[]) == []
    else:
        with pytest.raises(ValueError, match=r"^seed must be an integer in \[0, 2\*\*32\), got "):
            seed_everything(seed, frameworks=[])


@FAST
@given(ANYTHING)
def test_benchmark_min_time_is_a_capped_number_of_seconds(min_time):
    calls = []
    run = lambda: benchmark(calls.append, 1, min_time=min_time, warmup=0, number=1, min_blocks=1, max_blocks=1)
    if is_real(min_time) and 0 <= min_time <= 60:
        assert run().blocks == 1
    else:
        with pytest.raises(ValueError, match=r"^min_time must be a number of seconds from 0 to 60, got "):
            run()
        assert calls == [], "a bad argument must be refused before the function runs"


@FAST
@given(st.text(max_size=10).filter(lambda name: name not in DATASETS), ANYTHING)
def test_data_refuses_unknown_names_and_non_boolean_shuffles(name, shuffle):
    with pytest.raises(ValueError, match=r"^unknown dataset .*: expected one of digits, moons, curve"):
        load_split(name, "train")
    if not (shuffle is None or isinstance(shuffle, bool)):
        with pytest.raises(ValueError, match=r"^shuffle must be True, False or None \(the default\), got "):
            torch_loader("moons", "train", shuffle=shuffle)


METRIC = st.one_of(
    FINITE, st.integers(-(2**53), 2**53), st.text(max_size=12), st.booleans(), st.lists(FINITE, min_size=1, max_size=4)
)
NAMES = st.text(min_size=1, max_size=8)


@FAST
@given(st.dictionaries(NAMES, METRIC, max_size=5))
def test_saved_metrics_round_trip_and_follow_the_schema(metrics):
    with tempfile.TemporaryDirectory() as folder:
        path = save_results("05_training_tensorflow", metrics, device="/CPU:0", directory=folder)
        jsonschema.validate(json.loads(path.read_text(encoding="utf-8")), schema())
        assert load_results(folder)["05_training_tensorflow"]["metrics"] == metrics


@FAST
@given(
    NAMES,
    st.one_of(
        st.sampled_from([math.nan, math.inf, -math.inf]),
        st.none(),
        st.just([]),
        st.dictionaries(NAMES, FINITE, max_size=2),
        st.lists(st.sampled_from([math.nan, "x"]), min_size=1),
    ),
)
def test_bad_metrics_are_refused_naming_the_key_and_nothing_is_written(key, value):
    with tempfile.TemporaryDirectory() as folder:
        with pytest.raises(ValueError, match=f"^metric {re_escape(repr(key))}"):
            save_results("05_training_tensorflow", {key: value}, device="cpu", directory=folder)
        assert not list(Path(folder).iterdir())


def re_escape(text):
    import re

    return re.escape(text)


def papermill_can_pass(value):
    if isinstance(value, list):
        return all(map(papermill_can_pass, value))
    if isinstance(value, dict):
        return all(isinstance(k, str) and papermill_can_pass(v) for k, v in value.items())
    return isinstance(value, PAPERMILL_TYPES)


@FAST
@given(st.one_of(st.text(max_size=20), st.from_regex(r"\A[a-z_]{1,6} ?= ?[\[\](){}0-9a-z.,'\" e+-]{0,12}\Z")))
def test_every_parameter_text_parses_or_is_refused_by_name(text):
    try:
        name, value = parse_parameter(text)
    except ValueError as err:
        assert repr(text) in str(err)
    else:
        assert name.isidentifier() and papermill_can_pass(value)


@FAST
@given(st.one_of(st.integers(-(10**6), 10**6).map(str), st.text(max_size=6)))
def test_coursekit_run_timeout_is_one_line_and_exit_2_when_wrong(monkeypatch, timeout):
    monkeypatch.chdir(ROOT)
    stderr = io.StringIO()
    with contextlib.redirect_stderr(stderr), contextlib.redirect_stdout(io.StringIO()):
        try:
            status = main(["run", "--timeout", timeout, "notebooks/99_missing.ipynb"])
        except SystemExit as exit_:
            status = exit_.code
    text = stderr.getvalue()
    assert status == 2 and text.count("\n") == 1 and text.startswith("coursekit run: "), text
    try:
        valid = 1 <= int(timeout) <= 86400
    except ValueError:
        valid = False
    # A valid timeout gets as far as the missing notebook; a wrong one is refused on its own.
    assert ("no such notebook" in text) == valid, text


@FAST
@given(
    st.lists(st.text("abc xyz", min_size=1, max_size=4), min_size=1, max_size=4),
    st.lists(st.lists(st.text("abc019", max_size=4), max_size=5), max_size=4),
)
def test_tables_print_every_row_or_name_the_row_that_does_not_fit(header, rows):
    wrong = [i for i, row in enumerate(rows, 1) if len(row) != len(header)]
    if wrong:
        with pytest.raises(ValueError, match=f"^row {wrong[0]} must be a list of {len(header)} cells"):
            Table(header, rows)
    else:
        table = Table(header, rows)
        assert len(str(table).split("\n")) == len(rows) + 2  # an all-empty row is a blank line
        assert len(table._repr_markdown_().splitlines()) == len(rows) + 2


@FAST
@given(st.text(max_size=5), FINITE, FINITE, FINITE, st.integers(-2, 5), st.integers(-2, 5), st.integers(-2, 5))
def test_benchmark_results_hold_only_possible_times_and_round_trip(label, median, q1, q3, blocks, number, warmup):
    possible = (
        label.strip()
        and min(median, q1, q3) >= 0
        and q1 <= median <= q3
        and blocks >= 1
        and number >= 1
        and warmup >= 0
    )
    if not possible:
        with pytest.raises(ValueError):
            BenchmarkResult(label, median, q1, q3, blocks, number, warmup)
        return
    result = BenchmarkResult(label, median, q1, q3, blocks, number, warmup)
    assert BenchmarkResult.from_dict(json.loads(json.dumps(result.as_dict()))) == result
    jsonschema.validate(result.as_dict(), {"$defs": schema()["$defs"], "$ref": "#/$defs/timing"})
    assert format_seconds(result.median).split()[-1] in {"s", "ms", "µs", "ns"}
    if median > 0:
        assert f"{1:.2f}×" in str(compare([result]))


@FAST
@given(ANYTHING)
def test_format_seconds_takes_only_durations(seconds):
    if is_real(seconds) and seconds >= 0 and math.isfinite(seconds):
        assert format_seconds(seconds).split()[-1] in {"s", "ms", "µs", "ns"}
    else:
        with pytest.raises(ValueError, match=r"^seconds must be a number ≥ 0, got "):
            format_seconds(seconds)
