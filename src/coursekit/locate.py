"""Find the course's root folder: the nearest folder above with a pyproject.toml for coursekit."""

from __future__ import annotations

from pathlib import Path


def course_root(start: Path | None = None) -> Path | None:
    """The course folder containing `start` (default: the working directory), or None outside it."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        project = folder / "pyproject.toml"
        if project.is_file() and "[tool.coursekit]" in project.read_text(encoding="utf-8"):
            return folder
    return None
