"""The `coursekit` command: doctor, run, anatomy, exercises."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import NoReturn


class UsageError(Exception):
    """A wrong argument or path: `main` prints it as one line, `coursekit <cmd>: ...`, and exits 2."""


class Parser(argparse.ArgumentParser):
    """argparse, but its errors are one line on stderr (`coursekit run: ...`) with exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: {message} (see `{self.prog} --help`)\n")


def _root() -> Path:
    from coursekit.course import course_root

    root = course_root()
    if root is None:
        raise UsageError("run this inside the course folder (no pyproject.toml with [tool.coursekit] above here)")
    return root


def _timeout(text: str) -> int:
    """--timeout: whole seconds per cell, from 1 to a day (0 or a negative number would mean none at all)."""
    from coursekit.runner import MAX_TIMEOUT

    try:
        seconds = int(text)
    except ValueError:
        seconds = 0
    if not 1 <= seconds <= MAX_TIMEOUT:
        raise argparse.ArgumentTypeError(f"must be a whole number of seconds from 1 to {MAX_TIMEOUT}, got {text!r}")
    return seconds


def cmd_doctor(args: argparse.Namespace) -> int:
    from coursekit.devices import doctor_report

    report, missing = doctor_report(tuple(args.framework))
    print(report)
    if missing:
        adds = " ".join(f"-r requirements/{name}.txt" for name in missing)
        print(
            f"\nmissing: {', '.join(missing)}, so {'its' if len(missing) == 1 else 'their'} notebooks cannot run here. "
            f"To add {'it' if len(missing) == 1 else 'them'}, in the course folder: "
            f"pip install {adds} (or `make lab`, which installs both frameworks).",
            file=sys.stderr,
        )
        return 1
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from coursekit.runner import find_notebooks, parse_parameter, run_notebooks, summary

    root = _root()
    try:
        params = dict(parse_parameter(p) for p in args.parameter)
        notebooks = find_notebooks([Path(p) for p in args.paths] or [root / "notebooks"])
        if not notebooks:
            print("coursekit run: no notebooks found", file=sys.stderr)
            return 1
        records = run_notebooks(notebooks, out_dir=root / args.out, root=root, parameters=params, timeout=args.timeout)
    except (ValueError, OSError) as err:  # a bad -p, a missing notebook, an --out that cannot be written
        raise UsageError(str(err)) from err
    print(summary(records))
    failed = [r for r in records if r.status != "ok"]
    total = sum(r.seconds for r in records)
    print(
        f"\n{len(records) - len(failed)} passed, {len(failed)} failed in {total:.0f} s; executed copies in {args.out}/"
    )
    return 1 if failed else 0


def cmd_anatomy(args: argparse.Namespace) -> int:
    from coursekit.anatomy import tree_problems, write_tree

    root = _root()
    if args.write:
        for path in write_tree(root):
            print(f"rewrote {path}")
    found = tree_problems(root)
    print("\n".join(found) if found else "every notebook follows the anatomy")
    return 1 if found else 0


def cmd_exercises(args: argparse.Namespace) -> int:
    from coursekit import exercises
    from coursekit.course import WORK_DIR

    root = _root()
    if args.action == "start":
        try:
            copies = exercises.start(root, args.module, args.framework)
        except ValueError as err:
            raise UsageError(str(err)) from None
        for path, copied in copies:
            print(f"{'copied to' if copied else 'kept yours'}  {path}")
        if any(not copied for _, copied in copies):
            print("(a file already there is never overwritten: delete it first for a fresh copy)")
        print(
            f"\nYour work lives in {WORK_DIR}/: git ignores it, and neither `git pull`, the tests nor\n"
            f"`coursekit exercises build` touch it. Open it in JupyterLab (`make lab`, then {WORK_DIR}/ in\n"
            f"the file browser) or with `jupyter lab {copies[0][0]}`."
        )
        return 0
    if args.action == "build":
        build = exercises.write(root, force=args.force)
        for path in build.written:
            print(f"built {path}")
        if not build.written and not build.kept:
            print("exercises/ is up to date")
        for path in build.kept:
            print(f"kept {path}: edited by hand since its last build", file=sys.stderr)
        if build.kept:
            print(
                f"(your work? `coursekit exercises start {build.kept[0].parts[1][:2]}` copies it to {WORK_DIR}/); "
                "`coursekit exercises build --force` overwrites these",
                file=sys.stderr,
            )
        return 1 if build.kept else 0
    findings = exercises.review(root)
    failing = exercises.stale(root)
    for finding in findings:
        print(finding.message if finding.message in failing else f"note: {finding.message}")
    if not findings:
        print("exercises/ is up to date with solutions/")
    if failing:
        print("run `coursekit exercises build` to rebuild it (with --force where edited by hand)", file=sys.stderr)
    return 1 if failing else 0


def _framework(name: str) -> str:
    """argparse type: any spelling the course accepts, as the canonical key."""
    from coursekit.course import framework

    try:
        return framework(name).key
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="coursekit", description="Helpers of the PyTorch + TensorFlow course.")
    sub = parser.add_subparsers(dest="command", required=True)
    doctor = sub.add_parser("doctor", help="what is installed and which devices each framework sees")
    doctor.add_argument(
        "--framework",
        action="append",
        type=_framework,
        metavar="NAME",
        help="check only this framework: torch (pytorch) or tensorflow (tf); repeatable; default both",
    )
    doctor.set_defaults(func=cmd_doctor, framework=None)
    run = sub.add_parser("run", help="execute notebooks headless with papermill and print a summary")
    run.add_argument("paths", nargs="*", help="notebooks or folders (default: notebooks/)")
    run.add_argument(
        "-p",
        "--parameter",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="inject a parameter into every notebook (repeatable), e.g. -p epochs=1",
    )
    run.add_argument("--out", default="build/executed", help="where executed copies go (default build/executed)")
    run.add_argument("--timeout", type=_timeout, default=600, help="seconds allowed per cell, 1 to 86400 (default 600)")
    run.set_defaults(func=cmd_run)
    anatomy = sub.add_parser("anatomy", help="check (or --write) the generated title and setup cells")
    anatomy.add_argument("--write", action="store_true", help="regenerate title, badges and setup cells first")
    anatomy.set_defaults(func=cmd_anatomy)
    ex = sub.add_parser("exercises", help="start your own copy of a module's exercises; build or check exercises/")
    actions = ex.add_subparsers(dest="action", required=True, parser_class=Parser)
    start = actions.add_parser("start", help="copy a module's exercises into my-work/, your place to solve them")
    start.add_argument("module", help="a module number or name (01, tensors_autodiff), or 'all'")
    start.add_argument(
        "--framework",
        action="append",
        type=_framework,
        metavar="NAME",
        help="only this framework's notebook: torch (pytorch) or tensorflow (tf); default both",
    )
    build = actions.add_parser("build", help="write exercises/ from solutions/ (keeps hand-edited notebooks)")
    build.add_argument("--force", action="store_true", help="overwrite exercise notebooks edited by hand too")
    actions.add_parser("check", help="say whether exercises/ is what `build` makes of solutions/")
    ex.set_defaults(func=cmd_exercises, framework=None)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "framework", 0) is None:
        from coursekit.course import FRAMEWORKS

        args.framework = list(FRAMEWORKS)
    try:
        return args.func(args)
    except UsageError as err:
        print(f"coursekit {args.command}: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
