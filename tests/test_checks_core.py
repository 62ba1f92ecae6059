"""What every module's checks share: ids load their module, verdicts are kept and logged, failures
render without a traceback, and the learner's exceptions become one sentence."""

import json

import numpy as np
import pytest

from coursekit.checks import Checker, CheckFailed, check_modules, checker
from coursekit.checks.core import Ops, Wrong, close, letter_then, one_line
from coursekit.frameworks import available

# The checks shared by every module, run with whichever framework this environment has.
FRAMEWORK = "pytorch" if available("torch") else "tensorflow"


def stub(*args):
    raise NotImplementedError("replace this line with your code")


def test_ids_load_their_module_and_unknown_ones_name_what_exists():
    assert "01" in check_modules()
    check = checker(FRAMEWORK)
    with pytest.raises(ValueError, match=r"unknown exercise '99\.1': module 99 has no checks; modules with checks: 01"):
        check("99.1", stub)
    with pytest.raises(ValueError, match=r"unknown exercise '01\.42': expected one of 01\.1, 01\.2"):
        check("01.42", stub)
    with pytest.raises(ValueError, match=r"an exercise id looks like '01\.3'"):
        check("1.2", stub)
    with pytest.raises(ValueError, match="unknown framework 'jax'"):
        checker("jax")


def test_check_returns_nothing_keeps_verdicts_and_logs_them(tmp_path, monkeypatch, capsys):
    log = tmp_path / "log.jsonl"
    monkeypatch.setenv("COURSEKIT_CHECK_LOG", str(log))
    check = Checker(FRAMEWORK)
    assert check("01.1", stub) is None  # Jupyter echoes nothing under a check cell
    assert "○ 01.1 standardize the columns: not solved yet" in capsys.readouterr().out
    with pytest.raises(CheckFailed):
        check("01.2", lambda a, b: None)
    assert [v.status for v in check.verdicts.values()] == ["unsolved", "failed"]
    assert [json.loads(line)["status"] for line in log.read_text().splitlines()] == ["unsolved", "failed"]
    assert "0 of 2 solved" in str(check.summary())


def test_failures_render_without_a_traceback():
    failed = CheckFailed("✗ 01.2 pairwise squared distances: transposed\n  Hint: ...")
    assert failed._render_traceback_() == [
        "\x1b[31m✗ 01.2 pairwise squared distances: transposed\x1b[0m",
        "\x1b[31m  Hint: ...\x1b[0m",
    ]


def test_the_learners_exceptions_become_one_sentence_and_stubs_pass_through():
    ops = Ops()
    with (
        pytest.raises(Wrong, match=r"^the backward pass raised RuntimeError: first line$"),
        ops.learner("the backward pass"),
    ):
        raise RuntimeError("first line\n  traceback-ish detail")
    with pytest.raises(NotImplementedError):
        ops.call(stub, 1)
    with pytest.raises(Wrong, match=r"^expected a function, got int 3$"):
        ops.call(3)
    assert one_line(KeyError()) == "KeyError"


def test_close_names_the_first_difference_with_plain_positions():
    close(np.ones((2, 2)), np.ones((2, 2)), "the value")
    got = np.ones((2, 3))
    got[1, 2] = 5.0
    with pytest.raises(
        Wrong, match=r"^the value is off at index \(1, 2\): expected 1, got 5 \(1 of 6 values differ\)$"
    ):
        close(got, np.ones((2, 3)), "the value")
    with pytest.raises(Wrong, match=r"^the loss is off: expected 1, got 2$"):
        close(np.float64(2.0), np.float64(1.0), "the loss")


def test_a_why_exercise_hands_back_its_function_only_for_the_right_letter():
    ops, names, fn = Ops(), ("why_they_differ", "fixed"), len
    assert letter_then(ops, (lambda: " b ", fn), names, "B", "one reason") is fn
    with pytest.raises(Wrong, match=r"^expected the pair \(why_they_differ, fixed\), got builtin_function_or_method"):
        letter_then(ops, fn, names, "B", "one reason")
    with pytest.raises(Wrong, match=r"^why_they_differ\(\) returned None: return the letter, e\.g\. return 'A'$"):
        letter_then(ops, (lambda: None, fn), names, "B", "one reason")
    with pytest.raises(Wrong, match=r"^'A' is not why: one reason$"):
        letter_then(ops, (lambda: "A", fn), names, "B", "one reason")
    reasons = {"A": "A's reason", "C": "C's reason"}
    with pytest.raises(Wrong, match=r"^'c' is not why: C's reason$"):
        letter_then(ops, (lambda: "c", fn), names, "B", reasons)
    with pytest.raises(Wrong, match=r"^expected one of the letters A, B, C, got 'D'$"):
        letter_then(ops, (lambda: "D", fn), names, "B", reasons)
    with pytest.raises(NotImplementedError):
        letter_then(ops, (stub, fn), names, "B", reasons)
