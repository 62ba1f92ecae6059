"""binder/ follows repo2docker's rules and names the course's pins; Binder's environment runs the lessons.

The static checks run everywhere. The environment checks run inside the venv that `make test-binder`
builds from binder/ alone (as repo2docker does), where $COURSEKIT_BINDER_ENV is set: they start
kernels and execute every lesson, one framework per kernel, against Binder's 2 GB memory limit.
"""

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from helpers import ROOT

BINDER = ROOT / "binder"
PIN = re.compile(
    r"^(?P<name>[A-Za-z0-9_.\-]+)==(?P<version>[0-9][^\s;+]*)(?:\+(?P<local>[\w.]+))?\s*(?:;\s*(?P<marker>.+))?$"
)
# Files that, in binder/, make repo2docker ignore requirements.txt and runtime.txt (or everything).
OVERRIDING = ["environment.yml", "environment.yaml", "Pipfile", "Pipfile.lock", "Dockerfile", "Project.toml"]
# mybinder.org restarts the kernel when the session passes 2 GB. One lesson's kernel may peak at 1.5 GB;
# with a process it starts (module 00's one-thread run) it must stay under 1.8 GB, leaving room for
# the Jupyter server (about 90 MB resident, measured idle here) and a second, idle kernel's start.
KERNEL_BUDGET_MB = 1536
SESSION_BUDGET_MB = 1843


def requirement_lines(path: Path) -> list[str]:
    """The lines of a requirements file that pip reads: comments and blank lines removed."""
    lines = (line.split(" #", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def binder_pins() -> dict[tuple[str, str], tuple[str, str | None]]:
    """{(normalised name, marker): (version, local tag)} of binder/requirements.txt."""
    found = {}
    for line in requirement_lines(BINDER / "requirements.txt"):
        if line.startswith("--"):
            continue
        match = PIN.match(line)
        assert match, f"binder/requirements.txt: {line!r} is not an exact pin (name==version)"
        key = (re.sub(r"[-_.]+", "-", match["name"]).lower(), (match["marker"] or "").replace(" ", ""))
        assert key not in found, f"binder/requirements.txt names {key[0]} twice"
        found[key] = (match["version"], match["local"])
    return found


def test_binder_holds_no_file_that_would_override_requirements_and_runtime():
    present = [name for name in OVERRIDING if (BINDER / name).exists()]
    assert not present, f"binder/{present[0]} makes repo2docker ignore binder/requirements.txt and runtime.txt"
    assert not (ROOT / ".binder").exists(), "both .binder/ and binder/ exist: repo2docker reads only one of them"


def test_binder_requirements_are_pins_and_pip_options_only():
    for line in requirement_lines(BINDER / "requirements.txt"):
        if line.startswith("--"):
            assert re.match(r"^--(extra-index-url|index-url|find-links) https://\S+$", line), (
                f"binder/requirements.txt: {line!r}: only index options with an https URL belong here"
            )
            continue
        assert not line.startswith(("-e", "-r", "-c", ".")), (
            f"binder/requirements.txt: {line!r}: repo2docker reads only binder/ (no -r to the repository root), "
            "and -e / -r lines defeat its build cache; postBuild installs coursekit"
        )
        assert PIN.match(line), f"binder/requirements.txt: {line!r} is not an exact pin (name==version)"


def test_binder_names_the_course_pins_with_the_cpu_build_of_torch():
    from test_install import pins

    course = pins(ROOT / "requirements.txt")
    binder = binder_pins()
    assert {key: version for key, (version, _) in binder.items()} == course, (
        "binder/requirements.txt must name exactly the packages and versions of requirements/*.txt"
    )
    local = {key[0]: tag for key, (_, tag) in binder.items() if tag}
    assert local == {"torch": "cpu"}, f"only torch carries a local tag, +cpu; found {local}"
    options = [line for line in requirement_lines(BINDER / "requirements.txt") if line.startswith("--")]
    assert options == ["--extra-index-url https://download.pytorch.org/whl/cpu"], (
        "the +cpu torch build comes from PyTorch's CPU index"
    )


def test_binder_runtime_is_the_python_the_course_is_tested_on():
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"


@pytest.mark.parametrize("name", ["postBuild", "start"])
def test_binder_scripts_are_executable_bash(name):
    script = BINDER / name
    assert script.read_text().startswith("#!/bin/bash\n"), f"binder/{name}: first line must be #!/bin/bash"
    mode = subprocess.run(["git", "ls-files", "-s", f"binder/{name}"], capture_output=True, text=True, cwd=ROOT).stdout
    assert mode.startswith("100755") or not mode, f"binder/{name} must be committed executable (git: {mode.split()[0]})"


def test_binder_post_build_stops_on_error_and_installs_coursekit_without_dependencies():
    commands = [line for line in requirement_lines(BINDER / "postBuild") if not line.startswith("#")]
    assert commands and commands[0] == "set -e", "postBuild: `set -e` first, or a failed step still builds an image"
    installs = [c for c in commands if "pip install" in c]
    assert installs == ["python -m pip install --no-deps ."], (
        "postBuild installs coursekit once, without dependencies (the pins came from requirements.txt), never -e"
    )


def test_binder_start_execs_the_command_it_was_given(tmp_path):
    lines = requirement_lines(BINDER / "start")
    assert lines[-1] == 'exec "$@"', 'binder/start must end with exec "$@" (else the server never starts)'
    python = tmp_path / "bin" / "python"  # a stand-in for the image's python, whose coursekit query fails
    python.parent.mkdir()
    python.write_text("#!/bin/bash\nexit 3\n")
    python.chmod(0o755)
    env = {**os.environ, "PATH": f"{python.parent}:/usr/bin:/bin"}
    out = subprocess.run(
        ["bash", str(BINDER / "start"), "bash", "-c", 'echo "$OMP_NUM_THREADS:$0"', "ran"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "1:ran\n", "a failed thread query falls back to one thread, and the command runs"


# --- Binder's environment itself: `make test-binder` builds it from binder/ and runs these there. ---

in_binder_env = pytest.mark.skipif(
    not os.environ.get("COURSEKIT_BINDER_ENV"),
    reason="needs the venv built from binder/ alone: run `make test-binder`",
)


def run_in_kernel(code: str, cwd: Path = ROOT, timeout: int = 300) -> list[str]:
    """Run code in a fresh kernel of this environment; its stdout lines (raises on an error)."""
    from jupyter_client.manager import start_new_kernel

    manager, client = start_new_kernel(kernel_name="python3", cwd=str(cwd))
    out: list[str] = []
    try:
        reply = client.execute_interactive(
            code, timeout=timeout, output_hook=lambda msg: out.append(msg["content"].get("text", ""))
        )
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    assert reply["content"]["status"] == "ok", f"{reply['content'].get('ename')}: {reply['content'].get('evalue')}"
    return "".join(out).splitlines()


@in_binder_env
def test_binder_env_has_coursekit_installed_not_linked():
    import coursekit

    assert Path(sys.prefix) in Path(coursekit.__file__).parents, "postBuild installs coursekit into the environment"


@in_binder_env
def test_binder_start_tells_torch_how_many_cores_the_session_has():
    from coursekit.devices import usable_cpus

    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    env.pop("OMP_NUM_THREADS", None)
    code = "import os; print(os.environ['OMP_NUM_THREADS'])"
    out = subprocess.run(["bash", str(BINDER / "start"), "python", "-c", code], capture_output=True, text=True, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str(usable_cpus())


@in_binder_env
@pytest.mark.parametrize("framework", ["torch", "tensorflow"])
def test_binder_kernel_imports_coursekit_and_the_framework(framework):
    lines = run_in_kernel(
        textwrap.dedent(f"""
        import coursekit, {framework}
        from coursekit.devices import best_device
        print({framework}.__version__, best_device("{framework}"))
        """)
    )
    version = {"torch": "2.13.0", "tensorflow": "2.21.0"}[framework]
    assert (
        lines
        and lines[-1].startswith(version)
        and lines[-1].split()[-1].lower().endswith("cpu:0" if framework == "tensorflow" else "cpu")
    ), lines


LESSONS = sorted((ROOT / "notebooks").glob("*/*_*.ipynb"))


@in_binder_env
@pytest.mark.parametrize("path", LESSONS, ids=[p.name for p in LESSONS])
def test_binder_lesson_kernel_peak_memory_is_within_budget(path, record_property):
    """Run the lesson in its own kernel, as a Binder learner does, and read that kernel's peak RSS."""
    import nbformat
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    notebook.cells.append(
        nbformat.v4.new_code_cell(
            "import resource as _r\n"
            "print('peak-rss-kb', _r.getrusage(_r.RUSAGE_SELF).ru_maxrss, _r.getrusage(_r.RUSAGE_CHILDREN).ru_maxrss)"
        )
    )
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    text = "".join(o.get("text", "") for o in notebook.cells[-1].outputs)
    own_kb, child_kb = map(int, re.search(r"peak-rss-kb (\d+) (\d+)", text).groups())
    own_mb, child_mb = own_kb / 1024, child_kb / 1024
    record_property("peak_rss_mb", round(own_mb))
    print(f"{path.name}: kernel peak RSS {own_mb:.0f} MB (largest child process {child_mb:.0f} MB)")
    assert own_mb < KERNEL_BUDGET_MB, (
        f"{path.name}: the kernel peaked at {own_mb:.0f} MB; Binder allows 2 GB per session and the course "
        f"keeps each lesson's kernel under {KERNEL_BUDGET_MB} MB"
    )
    assert own_mb + child_mb < SESSION_BUDGET_MB, (
        f"{path.name}: the kernel ({own_mb:.0f} MB) and a process it started ({child_mb:.0f} MB) together pass "
        f"{SESSION_BUDGET_MB} MB, too close to Binder's 2 GB"
    )
