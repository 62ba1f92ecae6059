"""The three install descriptions name the same packages and versions; the install pulled no CUDA."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT

LINE = re.compile(r"^(?P<name>[A-Za-z0-9_.\-]+)==(?P<version>[^\s;]+)\s*(?:;\s*(?P<marker>.+))?$")


def pins(path, seen=None):
    """{(name, marker): version} of a requirements file, following -r includes, ignoring +local tags."""
    found = {}
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line or line.startswith("--"):
            continue
        if line.startswith("-r "):
            found.update(pins(path.parent / line[3:].strip()))
            continue
        match = LINE.match(line)
        assert match, f"{path.name}: {raw!r} is not pinned exactly (name==version)"
        name = re.sub(r"[-_.]+", "-", match["name"]).lower()
        found[(name, (match["marker"] or "").replace(" ", ""))] = match["version"].split("+")[0]
    return found


def conda_pip_section():
    """The pip part of environment.yml, written out as a requirements file beside it."""
    text = (ROOT / "environment.yml").read_text()
    items = re.findall(r"^\s+- (-r .+|[^\s].*==.*)$", text, flags=re.MULTILINE)
    section = ROOT / "build" / "environment-pip.txt"
    section.parent.mkdir(exist_ok=True)
    section.write_text("\n".join(i.replace("-r ", "-r ../") if i.startswith("-r ") else i for i in items) + "\n")
    return section


def test_requirements_conda_and_binder_name_the_same_pins():
    main = pins(ROOT / "requirements.txt")
    assert ("torch", "") in main and main[("torch", "")].startswith("2.13.")
    assert pins(conda_pip_section()) == main
    assert pins(ROOT / "binder" / "requirements.txt") == main


def test_requirements_txt_is_the_one_framework_lists_together():
    """A one-framework install takes requirements/common.txt plus one framework's file; all three make the course's."""
    lines = [line.split("#", 1)[0].strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    assert [line for line in lines if line] == [f"-r requirements/{n}.txt" for n in ("common", "torch", "tensorflow")]
    names = {
        part: {name for name, _ in pins(ROOT / "requirements" / f"{part}.txt")} for part in ("torch", "tensorflow")
    }
    assert names == {"torch": {"torch"}, "tensorflow": {"tensorflow", "tensorflow-cpu", "keras", "xprof"}}
    common = {name for name, _ in pins(ROOT / "requirements" / "common.txt")}
    assert {"matplotlib", "ipywidgets", "ipykernel", "numpy"} <= common and not common & (
        names["torch"] | names["tensorflow"]
    )


def test_binder_takes_the_cpu_build_of_torch_and_installs_coursekit():
    text = (ROOT / "binder" / "requirements.txt").read_text()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in text
    assert re.search(r"^torch==[\d.]+\+cpu$", text, flags=re.MULTILINE)
    assert "pip install --no-deps ." in (ROOT / "binder" / "postBuild").read_text()
    assert (ROOT / "binder" / "runtime.txt").read_text().strip() == "python-3.11"


@pytest.mark.skipif(
    Path(sys.prefix).resolve() not in {(ROOT / ".venv").resolve(), (ROOT / ".venv-colab").resolve()},
    reason="only the course's own venvs must be free of CUDA packages (a GPU machine has them on purpose)",
)
def test_no_cuda_packages_were_installed():
    listing = subprocess.run([sys.executable, "-m", "pip", "list"], capture_output=True, text=True).stdout
    assert not re.search(r"^nvidia-", listing, flags=re.MULTILINE | re.IGNORECASE), "a CUDA build was pulled in"


def test_readme_quickstart_and_ci_use_the_two_commands():
    readme = (ROOT / "README.md").read_text()
    quickstart = readme.split("## Quickstart", 1)[1].split("\n## ", 1)[0]
    assert re.findall(r"^make \w+$", quickstart, flags=re.MULTILINE) == ["make lab", "make test"]
    ci = [
        line
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if line and not line.startswith(("#", "set ", "cd "))
    ]
    chromium = "{ apt-get update -qq && apt-get install -y -qq --no-install-recommends chromium; }"
    assert ci == [
        f"command -v chromium >/dev/null || {chromium}",
        "make test",
        "make test-colab",
        "make test-one-framework test-binder",
    ]


# Colab's versions (`make test-colab`): requirements-colab.txt replaces some of requirements.txt's pins.
COLAB = ROOT / "requirements-colab.txt"


def test_colab_list_replaces_the_frameworks_and_widgets_but_not_torch():
    main, colab = pins(ROOT / "requirements.txt"), pins(COLAB)
    replaced = {key for key in colab if key in main}
    assert {name for name, _ in replaced} >= {"tensorflow-cpu", "tensorflow", "keras", "numpy", "ipywidgets"}
    same = [f"{name}=={colab[name, marker]}" for name, marker in replaced if colab[name, marker] == main[name, marker]]
    assert not same, f"requirements-colab.txt repeats the course's own pins (remove them): {same}"
    # Colab's torch 2.11 exists here only as a CUDA build; the Colab run keeps the course's CPU torch.
    assert not any(name == "torch" for name, _ in colab)
    added = {name for name, _ in colab} - {name for name, _ in main}
    assert added <= {"widgetsnbextension", "jupyterlab-widgets", "ipython-genutils"}, (
        f"requirements-colab.txt adds {added}: it should only replace pins of requirements.txt "
        "(and pin ipywidgets 7's own companions)"
    )


@pytest.mark.skipif(
    Path(sys.prefix).resolve() != (ROOT / ".venv-colab").resolve(), reason="only `make test-colab`'s .venv-colab"
)
def test_the_colab_venv_has_colabs_versions():
    from importlib.metadata import version

    from packaging.markers import Marker

    wrong = [
        f"{name}: {version(name)} installed, {wanted} wanted"
        for (name, marker), wanted in pins(COLAB).items()
        if (not marker or Marker(marker).evaluate()) and version(name) != wanted
    ]
    assert not wrong, (
        "installed versions differ from requirements-colab.txt (`make test-colab` rebuilds .venv-colab):\n"
        + "\n".join(wrong)
    )
