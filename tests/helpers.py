"""Shared test helpers: run Python in a fresh interpreter, optionally with a framework hidden."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Makes the named packages invisible, exactly as if not installed: every finder answers None.
HIDE = """
import sys
class _Hide:
    def __init__(self, inner):
        self.inner = inner
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {hidden!r} or not hasattr(self.inner, "find_spec"):
            return None
        return self.inner.find_spec(name, path, target)
    def __getattr__(self, attr):
        return getattr(self.inner, attr)
sys.meta_path[:] = [_Hide(finder) for finder in sys.meta_path]
"""


def run_python(
    code: str, *, hide: tuple[str, ...] = (), args: tuple[str, ...] = (), env: dict[str, str | None] | None = None
) -> subprocess.CompletedProcess:
    """Run code in a fresh interpreter of this environment, with the given top-level packages hidden.

    env: variables to set on top of this process's (None removes one); TensorFlow's C++ logs are off
    unless env says otherwise.
    """
    prelude = HIDE.format(hidden=set(hide)) if hide else ""
    merged = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    env = {k: v for k, v in merged.items() if v is not None}
    return subprocess.run(
        [sys.executable, "-c", prelude + textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )


def execute_with_check_log(path: Path, log: Path) -> list[dict]:
    """Execute a notebook in its folder with $COURSEKIT_CHECK_LOG set; return the checks' verdicts."""
    import json

    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    saved = os.environ.get("COURSEKIT_CHECK_LOG")
    os.environ["COURSEKIT_CHECK_LOG"] = str(log)  # the kernel inherits this process's environment
    try:
        NotebookClient(
            notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
        ).execute()
    finally:
        if saved is None:
            del os.environ["COURSEKIT_CHECK_LOG"]
        else:
            os.environ["COURSEKIT_CHECK_LOG"] = saved
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def check_ids(path: Path) -> list[str]:
    """The exercise ids a notebook's check cells name, in order: check("01.3", ...)."""
    import re

    import nbformat

    notebook = nbformat.read(path, as_version=4)
    return [
        m
        for c in notebook.cells
        if c.cell_type == "code"
        for m in re.findall(r"""\bcheck\(\s*["']([^"']+)["']""", c.source)
    ]


def needs(*frameworks: str):
    """Skip a test, with the install command as the reason, where one of its frameworks is missing."""
    import pytest

    from coursekit.course import framework
    from coursekit.frameworks import available

    missing = [framework(name) for name in frameworks if not available(name)]
    return pytest.mark.skipif(
        bool(missing), reason=", ".join(f"{fw.title} is not installed ({fw.install})" for fw in missing)
    )


def notebook_params(paths: list[Path], name=str) -> list:
    """Course notebooks (paths in the course or under ROOT) as pytest params named by `name`, each
    skipped where its framework is not installed."""
    import pytest

    from coursekit.course import NotebookId

    def marks(path: Path):
        fw = NotebookId.parse(path.relative_to(ROOT) if path.is_absolute() else path).framework
        return needs(fw.key) if fw else ()

    return [pytest.param(p, id=name(p), marks=marks(p)) for p in paths]


def stub(*args):
    """What an unsolved exercise's function does, as the generated stubs do: raise."""
    raise NotImplementedError("replace this line with your code")


def assert_answers_pass_and_stubs_are_unsolved(framework: str, right: dict, stubs: dict, count: int) -> None:
    """Each right answer passes its check, and the same check reports the exercise's stub as unsolved."""
    from coursekit.checks import checker

    check = checker(framework)
    for exercise, answer in right.items():
        check(exercise, answer)
        assert check.verdicts[exercise].status == "passed", exercise
        check(exercise, stubs.get(exercise, stub))
        assert check.verdicts[exercise].status == "unsolved", exercise
    assert len(right) == count, f"{len(right)} right answers tested; the module has {count} exercises"


def assert_mistakes_are_named(framework: str, wrong: list) -> None:
    """Each (exercise, wrong answer, message) fails its check with a sentence holding the message and a hint,
    and no traceback or NumPy scalar repr leaks into what the learner reads."""
    from coursekit.checks import CheckFailed, checker

    check = checker(framework)
    missed = []
    for exercise, answer, message in wrong:
        try:
            check(exercise, answer)
            missed.append(f"{exercise} passed; expected a failure saying {message!r}")
        except CheckFailed as failed:
            text = str(failed)
            if message not in text or "Hint:" not in text or "np.int64" in text or "Traceback" in text:
                missed.append(f"{exercise}: expected {message!r} in:\n{text}")
    assert not missed, "\n".join(missed)


def checks_tests(answers: dict, stubs: dict, count: int) -> tuple:
    """The two tests every module's checks get, in each framework: right answers pass (and stubs are unsolved),
    wrong ones are named. `answers` maps a fixture ('torch', 'tf' or 'keras') to a function of that framework
    returning (right, wrong); assign the pair to the two test names in the module's test file."""
    import pytest

    frameworks = pytest.mark.parametrize(
        "framework, fixture", [("pytorch" if fixture == "torch" else "tensorflow", fixture) for fixture in answers]
    )

    @frameworks
    def right_answers_pass(framework, fixture, request):
        right, _ = answers[fixture](request.getfixturevalue(fixture))
        assert_answers_pass_and_stubs_are_unsolved(framework, right, stubs, count)

    @frameworks
    def wrong_answers_are_named(framework, fixture, request):
        _, wrong = answers[fixture](request.getfixturevalue(fixture))
        assert_mistakes_are_named(framework, wrong)

    return right_answers_pass, wrong_answers_are_named


def check_without_tensorflow(imports: str, exercise: str, right: str, wrong: str) -> str:
    """What a PyTorch check prints for a right and then a wrong answer (lambdas, as source) in a fresh interpreter
    where TensorFlow is hidden: how a port exercise is checked against its NumPy reference when the twin is missing."""
    result = run_python(
        f"""
        import torch
        {imports}
        from coursekit.checks import checker
        check = checker("pytorch")
        check({exercise!r}, {right})
        try:
            check({exercise!r}, {wrong})
        except AssertionError as failed:
            print(failed)
        """,
        hide=("tensorflow",),
    )
    assert result.returncode == 0, result.stderr
    return result.stdout
