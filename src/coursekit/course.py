"""The course model: its modules, its frameworks, where it lives, and what a notebook's path means.

Anatomy, exercises, results, checks and the command line all read these tables, so a module, a
framework spelling or a notebook kind is declared once, here.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

# Module folder -> title, as in the blueprint's table of modules.
MODULES = {
    "00_setup": "Setup: what you have and what it sees",
    "01_tensors_autodiff": "Tensors and automatic differentiation",
    "02_execution_models": "Execution models: eager and graphs",
    "03_networks": "Networks",
    "04_data_pipelines": "Data pipelines",
    "05_training_loops": "Training loops",
    "06_debugging": "Debugging",
    "07_compilation": "Compilation",
    "08_performance": "Performance",
    "09_distributed": "Distributed training",
    "10_deployment": "Export and deployment",
    "11_sequence_models": "Sequence models",
    "12_capstone_porting": "Capstone: porting a model",
}
# Course-level notebooks: notebooks/<name>.ipynb, one per course, no twin (they gather both frameworks).
COURSE_NOTEBOOKS = {
    "scorecard": "Scorecard: the two frameworks on your machine",
}
# Metrics that a lesson's twins must agree on, with the tolerance (absolute, or relative for "rel"):
# the same data, model and seed give the same answer in both frameworks up to float32 rounding.
# Every other metric (timings above all) is set side by side, not compared.
TWIN_AGREEMENT: dict[str, dict[str, tuple[str, float]]] = {
    "01_tensors_autodiff": {
        **{f"coef_{p}": ("abs", 1e-5) for p in ("x3", "x2", "x1", "x0")},
        "train_mse": ("rel", 1e-4),
        "test_mse": ("rel", 1e-4),
    },
    # Graphs captured for inputs of length 4, 8, 16, 16: dynamo (dynamic=False/None/True) and
    # tf.function (plain / reduce_retracing / input_signature) both make 3, 2 and 1.
    "02_execution_models": {key: ("abs", 0) for key in ("traces_plain", "traces_reduce_retracing", "traces_signature")},
    # Counts are exact. The logits come from the same seeded NumPy weights and inputs in both twins;
    # each framework is within 1.2e-6 of a float64 NumPy reference (float32 rounding of logits of
    # size 0.1-3), so single logits get 1e-5 and sums of 200-320 logits 1e-4, while a missing
    # transpose or flatten fix moves logits by 0.1-3. The initialiser rules' statistics are means
    # over 320 float32 logits: relative 1e-4.
    "03_networks": {
        "params_classifier": ("abs", 0),
        "params_cnn": ("abs", 0),
        "canonical_logits_first": ("abs", 1e-5),
        "canonical_logits_sum": ("abs", 1e-4),
        "classifier_logits_sum": ("abs", 1e-4),
        **{f"init_{q}_{rule}_rule": ("rel", 1e-4) for q in ("logit_std", "loss") for rule in ("pytorch", "keras")},
    },
    # The same split and batch size: counts, equal exactly (throughputs are machine-bound and set side by side).
    "04_data_pipelines": {
        "samples_per_epoch": ("abs", 0.0),
        "batches_per_epoch": ("abs", 0.0),
        "last_batch_size": ("abs", 0.0),
    },
    "05_training_loops": {
        "parameters": ("abs", 0),  # the same CNN: 53,002 parameters in both
        "resume_max_diff": ("abs", 1e-6),  # a resumed run repeats the uninterrupted one in both (0 here)
    },
    # The same script, split and batch size: the steps taken are a count, equal exactly; so is the number of
    # bugs recorded. Which bugs each framework's tools pointed at, and the accuracies, differ by framework.
    "06_debugging": {
        "steps_taken": ("abs", 0),
        "bugs": ("abs", 0),
    },
    # An epoch of 1257 digits in batches of 64 ends with a batch of 41: dynamo (dynamic=None) captures
    # 2 graphs and a plain tf.function traces twice; dynamic=True and a None input_signature, once each.
    # Exact counts. (Timings, compile seconds and break-evens are machine-bound: set side by side.)
    "07_compilation": {"graphs_partial_batch": ("abs", 0), "graphs_partial_batch_fixed": ("abs", 0)},
    # The same CNN and deep network: parameter counts exact. Checkpointing runs a block's forward pass twice
    # in both (once plain), counted exactly; its gradients equal the plain network's in both (0 here: the
    # recomputation repeats the same kernels; 1e-6 leaves room for float32 rounding, far below a real error).
    # Times, memory and accuracy are each framework's own and set side by side, not required to agree.
    "08_performance": {
        "parameters": ("abs", 0),
        "deep_parameters": ("abs", 0),
        "block_forwards_plain": ("abs", 0),
        "block_forwards_checkpointed": ("abs", 0),
        "checkpoint_grad_max_diff": ("abs", 1e-6),
    },
    # The same job in both: 2 workers, global batch 64, collectives on the same small tensors (exact). The weight
    # differences (2 workers vs 1, resumed vs uninterrupted, two nodes vs one) are float64 rounding, about 1e-16 in
    # both twins, so they agree within 1e-12; a sharding or averaging mistake in one twin gives 1e-3 or more.
    "09_distributed": {
        "workers": ("abs", 0),
        "global_batch": ("abs", 0),
        "all_reduce": ("abs", 0),
        "all_gather": ("abs", 0),
        **{key: ("abs", 1e-12) for key in ("max_weight_diff_1_vs_2", "resume_max_diff", "two_node_max_diff")},
    },
}
# Top-level folder -> the kind of notebook it holds.
KINDS = {"notebooks": "lesson", "exercises": "exercises", "solutions": "solutions"}
# Where `coursekit exercises start` puts a learner's copies: git-ignored, at the same depth as
# exercises/ (so a notebook's ../../notebooks/... links still resolve), and read by no test or build.
WORK_DIR = "my-work"


@dataclass(frozen=True)
class Framework:
    """One framework and every way the course spells it."""

    key: str  # what code passes around and imports: "torch", "tensorflow"
    slug: str  # in notebook file names and saved results: "pytorch", "tensorflow"
    title: str  # in prose and titles: "PyTorch", "TensorFlow"
    aliases: tuple[str, ...]  # every spelling accepted from a learner, lower case
    install: str  # the install command the course recommends


FRAMEWORKS = {
    "torch": Framework(
        "torch",
        "pytorch",
        "PyTorch",
        ("torch", "pytorch"),
        "pip install torch==2.13.*  (CPU build; see the course README)",
    ),
    "tensorflow": Framework(
        "tensorflow",
        "tensorflow",
        "TensorFlow",
        ("tensorflow", "tf"),
        "pip install tensorflow-cpu==2.21.*  (macOS: tensorflow==2.21.*)",
    ),
}
_SPELLINGS = {alias: fw for fw in FRAMEWORKS.values() for alias in fw.aliases}


def framework(name: object) -> Framework:
    """The framework for any accepted spelling (torch, pytorch, tensorflow, tf, any case), else ValueError."""
    key = name.strip().lower() if isinstance(name, str) else None
    if key not in _SPELLINGS:
        raise ValueError(f"unknown framework {name!r}: expected one of {', '.join(sorted(_SPELLINGS))}")
    return _SPELLINGS[key]


def module_named(name: str, among: list[str] | None = None) -> str:
    """The module folder a learner means by '01', '1', 'tensors_autodiff' or '01_tensors_autodiff';
    ValueError listing the choices (default: every module of the course map)."""
    choices = list(MODULES) if among is None else among
    text = name.strip().lower()
    for module in choices:
        number, slug = module.split("_", 1)
        if text in (module, slug, number) or (text.isdigit() and int(text) == int(number)):
            return module
    raise ValueError(f"unknown module {name!r}: expected a number or name, one of {', '.join(choices) or '(none)'}")


def twin_of(fw: Framework) -> Framework:
    """The other framework of the pair."""
    return next(other for other in FRAMEWORKS.values() if other is not fw)


FILENAME = re.compile(r"^(?P<module>\d\d_[a-z0-9_]+)_(?P<framework>pytorch|tensorflow)\.ipynb$")


@dataclass(frozen=True)
class NotebookId:
    """What a notebook's path says: its kind (lesson, exercises, solutions or course), module and framework.

    A course-level notebook (notebooks/scorecard.ipynb) has kind 'course', its name as module and
    no framework: it has no twin.
    """

    path: Path  # relative to the course root, e.g. notebooks/00_setup/00_setup_pytorch.ipynb
    kind: str
    module: str
    framework: Framework | None

    @classmethod
    def parse(cls, relpath: Path) -> NotebookId:
        """Read the id from a path relative to the course root; ValueError naming the rule it breaks."""
        parts = relpath.parts
        if len(parts) == 2 and parts[0] == "notebooks" and relpath.suffix == ".ipynb":
            if relpath.stem not in COURSE_NOTEBOOKS:
                raise ValueError(
                    f"{relpath}: a course-level notebook must be one of "
                    f"{', '.join(f'notebooks/{n}.ipynb' for n in COURSE_NOTEBOOKS)}"
                )
            return cls(relpath, "course", relpath.stem, None)
        match = FILENAME.match(relpath.name)
        if len(parts) != 3 or parts[0] not in KINDS or not match or match["module"] != parts[1]:
            raise ValueError(
                f"{relpath}: a course notebook lives at <notebooks|exercises|solutions>/NN_slug/"
                "NN_slug_<pytorch|tensorflow>.ipynb"
            )
        if parts[1] not in MODULES:
            raise ValueError(f"{relpath}: module {parts[1]!r} is not in the course map ({', '.join(MODULES)})")
        return cls(relpath, KINDS[parts[0]], parts[1], framework(match["framework"]))

    @property
    def twin(self) -> Path | None:
        """The twin's path: the same notebook in the other framework (None for a course-level notebook)."""
        if self.framework is None:
            return None
        return self.path.with_name(f"{self.module}_{twin_of(self.framework).slug}.ipynb")

    @property
    def title(self) -> str:
        """The title line, e.g. '# 00 · Setup: what you have and what it sees — PyTorch'."""
        if self.framework is None:
            return f"# {COURSE_NOTEBOOKS[self.module]}"
        kind = "" if self.kind == "lesson" else f" ({self.kind})"
        return f"# {self.module[:2]} · {MODULES[self.module]}{kind} — {self.framework.title}"


RESULTS_ID = re.compile(r"^(?P<module>\d\d_[a-z0-9_]+?)_(?P<framework>pytorch|tensorflow)$")


def parse_results_id(notebook: str) -> tuple[str, Framework]:
    """'01_tensors_autodiff_pytorch' -> ('01_tensors_autodiff', PyTorch); ValueError naming the form."""
    match = RESULTS_ID.match(notebook) if isinstance(notebook, str) else None
    if not match:
        raise ValueError(
            f"notebook id {notebook!r} is not of the form NN_slug_pytorch or NN_slug_tensorflow "
            "(e.g. '00_setup_pytorch')"
        )
    return match["module"], framework(match["framework"])


@dataclass(frozen=True)
class Course:
    """Where the course lives: the repository URL and the git ref launches and installs use."""

    repository: str  # e.g. https://github.com/ORG/REPO
    ref: str

    @classmethod
    def from_pyproject(cls, root: Path) -> Course:
        """Read the URL from [project.urls] Repository and the ref from [tool.coursekit] in pyproject."""
        data = tomllib.loads((root / "pyproject.toml").read_text(encoding="utf-8"))
        return cls(data["project"]["urls"]["Repository"].rstrip("/"), data["tool"]["coursekit"]["ref"])

    @property
    def slug(self) -> str:
        """ORG/REPO, as the launch services want it."""
        return self.repository.split("github.com/", 1)[1]


def course_root(start: Path | None = None) -> Path | None:
    """The course folder containing `start` (default: the working directory), or None outside it:
    the nearest folder above with a pyproject.toml that has a [tool.coursekit] table."""
    here = (start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        project = folder / "pyproject.toml"
        if project.is_file() and "[tool.coursekit]" in project.read_text(encoding="utf-8"):
            return folder
    return None


def course_notebooks(root: Path) -> list[Path]:
    """Every notebook of the course under root, relative to it, sorted."""
    return sorted(
        p.relative_to(root)
        for kind in KINDS
        for p in (root / kind).glob("**/*.ipynb")
        if ".ipynb_checkpoints" not in p.parts
    )
