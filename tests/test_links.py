"""Every Colab and Binder link in the notebooks and the README opens a file that git tracks, in the
course's repository at its configured ref (pyproject.toml). Read from the links' text: no network."""

import re
import shutil
import subprocess
from pathlib import PurePosixPath
from urllib.parse import unquote

import nbformat
import pytest

from coursekit.course import Course, course_notebooks
from helpers import ROOT

URL_END = r"[^\s)\"'<>\]]+"
COLAB = re.compile(rf"https://colab\.research\.google\.com/github/({URL_END})")
BINDER = re.compile(rf"https://mybinder\.org/v2/gh/({URL_END})")
# colab.research.google.com/github/ORG/REPO/blob/REF/PATH; mybinder.org/v2/gh/ORG/REPO/REF[?urlpath=lab/tree/PATH]
COLAB_PARTS = re.compile(r"^(?P<repo>[^/]+/[^/]+)/blob/(?P<ref>[^/]+)/(?P<path>[^?#]+)$")
BINDER_PARTS = re.compile(r"^(?P<repo>[^/]+/[^/]+)/(?P<ref>[^/?#]+)(?:\?urlpath=lab/tree/(?P<path>[^&#]+))?$")


def launch_links(root):
    """(where, service, the link after the service's prefix) for every launch link in README.md and
    in the markdown of every course notebook."""
    texts = [("README.md", (root / "README.md").read_text(encoding="utf-8"))]
    for rel in course_notebooks(root):
        cells = nbformat.read(root / rel, as_version=4).cells
        texts += [(f"{rel}, cell {i + 1}", c.source) for i, c in enumerate(cells) if c.cell_type == "markdown"]
    return [
        (where, service, rest)
        for where, text in texts
        for service, pattern in (("Colab", COLAB), ("Binder", BINDER))
        for rest in pattern.findall(text)
    ]


def tracked(root):
    """The files git tracks under root, and every folder that holds one."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True, text=True, check=True).stdout
    files = {f for f in listed.split("\0") if f}
    folders = {str(parent) for f in files for parent in PurePosixPath(f).parents if str(parent) != "."}
    return files, folders


def link_problems(root):
    """Every launch link that opens another repository, another ref, or a path git does not track."""
    course = Course.from_pyproject(root)
    files, folders = tracked(root)
    out = []
    for where, service, rest in launch_links(root):
        parts = (COLAB_PARTS if service == "Colab" else BINDER_PARTS).match(rest)
        if not parts:
            out.append(f"{where}: a {service} link that names no ORG/REPO, ref and path: {rest}")
            continue
        if parts["repo"] != course.slug:
            out.append(f"{where}: a {service} link opens {parts['repo']}, not the course's {course.slug}")
        if parts["ref"] != course.ref:
            out.append(f"{where}: a {service} link opens ref {parts['ref']!r}, not the configured {course.ref!r}")
        path = unquote(parts["path"] or "").rstrip("/")
        allowed = files if service == "Colab" else files | folders  # Binder's lab/tree may open a folder
        if parts["path"] is not None and path not in allowed:
            out.append(f"{where}: a {service} link opens {path}, which git does not track")
    return out


def in_git(root):
    return subprocess.run(["git", "rev-parse", "--git-dir"], cwd=root, capture_output=True).returncode == 0


@pytest.mark.skipif(
    not in_git(ROOT), reason="the course is not a git checkout here: no tracked files to check links against"
)
def test_every_launch_link_opens_a_tracked_file_at_the_configured_ref():
    links = launch_links(ROOT)
    notebooks = course_notebooks(ROOT)
    for service in ("Colab", "Binder"):  # each notebook's own badge at least: the test reads real links
        assert sum(s == service for _, s, _ in links) >= len(notebooks), f"too few {service} links found"
    problems = link_problems(ROOT)
    assert not problems, "\n".join(problems)


def test_a_renamed_notebook_another_ref_or_repository_is_caught(tmp_path):
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    shutil.copy(ROOT / "README.md", tmp_path)
    for kind in ("notebooks", "exercises", "solutions"):
        shutil.copytree(ROOT / kind, tmp_path / kind)
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    subprocess.run(["git", "add", "."], cwd=tmp_path, check=True)
    assert link_problems(tmp_path) == []
    old, new = "notebooks/00_setup/00_setup_pytorch.ipynb", "notebooks/00_setup/00_setup_torch.ipynb"
    subprocess.run(["git", "mv", old, new], cwd=tmp_path, check=True)
    readme = tmp_path / "README.md"
    course = Course.from_pyproject(ROOT)
    text = readme.read_text()
    text = text.replace(
        f"/blob/{course.ref}/notebooks/00_setup/00_setup_tensorflow",
        "/blob/main/notebooks/00_setup/00_setup_tensorflow",
    )
    text = text.replace(f"v2/gh/{course.slug}/", "v2/gh/someone/fork/")
    readme.write_text(text)
    problems = link_problems(tmp_path)
    for expected in (
        f"README.md: a Colab link opens {old}, which git does not track",
        f"{new}, cell 1: a Colab link opens {old}, which git does not track",
        f"{new}, cell 1: a Binder link opens {old}, which git does not track",
        f"README.md: a Colab link opens ref 'main', not the configured {course.ref!r}",
        f"README.md: a Binder link opens someone/fork, not the course's {course.slug}",
    ):
        assert expected in problems, "\n".join(problems)
