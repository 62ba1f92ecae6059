"""JupyterLab in headless Chromium, used as a learner uses it: open a notebook, Run All, read what shows.

Lab starts a JupyterLab server of this environment on loopback with its own temporary Jupyter
folders; Notebook drives one open notebook in a Playwright page and lists what a learner would
see go wrong (stderr or error blocks, widgets shown as text, sliders that change nothing, raw
objects echoed, plots missing). Debian's `chromium` is driven through Playwright's
executable_path: `playwright install` (which downloads browsers) is never needed.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import pkgutil
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
STDERR = "application/vnd.jupyter.stderr"
# What a widget looks like when the browser has no live view of it: its repr as text (no widget
# manager), or the messages the widget manager shows while or instead of rendering it.
WIDGET_AS_TEXT = re.compile(
    r"^\s*(?:VBox|HBox|Box|GridBox|Tab|Accordion|Output|Play|Button|Checkbox|Dropdown|Text|Textarea|Label|HTML"
    r"|\w*Slider|\w*Buttons|Interactive)\((?:children|value|description|options|index|layout|outputs)="
    r"|Loading widget\.\.\.|Error displaying widget|widget state could not be found|Widget Javascript not detected"
)
RUN_TIMEOUT_S = 420  # one notebook's Run All; about 30 s alone, longer beside the rest of the suite


def chromium() -> str | None:
    """Debian's (or the system's) Chromium, if installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def missing() -> str | None:
    """Why the browser tests cannot run here and what to install, or None when they can."""
    pin = re.search(r"^playwright==\S+", (ROOT / "requirements.txt").read_text(), flags=re.MULTILINE)
    needs = []
    if chromium() is None:
        needs.append("Chromium (Debian/Ubuntu: `apt-get install chromium`)")
    if importlib.util.find_spec("playwright") is None:
        needs.append(f"Playwright (`pip install {pin[0] if pin else 'playwright'}`; never `playwright install`)")
    if needs:
        return f"browser tests skipped: install {' and '.join(needs)}"
    from importlib.metadata import version

    if int(version("ipywidgets").split(".")[0]) < 8:  # `make test-colab`'s environment
        return (
            f"browser tests skipped: JupyterLab 4 draws widgets from ipywidgets 8 only, this is "
            f"{version('ipywidgets')} (on Colab, Colab's own page draws ipywidgets 7)"
        )
    return None


def raw_reprs() -> re.Pattern[str]:
    """Text that is an object's repr rather than a sentence: coursekit's dataclasses, default reprs, figures."""
    import coursekit

    names = set()
    for info in pkgutil.walk_packages(coursekit.__path__, "coursekit."):
        module = importlib.import_module(info.name)
        names |= {
            name
            for name, obj in vars(module).items()
            if isinstance(obj, type) and obj.__module__ == module.__name__ and dataclasses.is_dataclass(obj)
        }
    return re.compile(rf"\b(?:{'|'.join(sorted(names))})\(|object at 0x[0-9a-f]+>|<Figure size \d")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Lab:
    """A JupyterLab server of this Python on 127.0.0.1, serving `root`, with settings kept in `home`.

    The kernel inherits this process's environment (so it imports this checkout's coursekit) minus
    what the test session sets for headless runs: a learner's kernel has Jupyter's inline plots and
    TensorFlow's default logging. Windowing is off so every cell is in the page (a full screenshot,
    and the DOM holds every output).
    """

    def __init__(self, root: Path, home: Path) -> None:
        self.root, self.home, self.token, self.port = root, home, secrets.token_hex(16), free_port()
        settings = home / "config" / "lab" / "user-settings" / "@jupyterlab" / "notebook-extension"
        settings.mkdir(parents=True, exist_ok=True)
        (settings / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
        for plugin, values in {
            "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},  # offline: no pop-ups
            "docmanager-extension/plugin": {"autosave": False},  # the course's notebooks stay as committed
        }.items():
            folder, name = plugin.split("/")
            (settings.parent / folder).mkdir(exist_ok=True)
            (settings.parent / folder / f"{name}.jupyterlab-settings").write_text(json.dumps(values))
        drop = {"MPLBACKEND", "TF_CPP_MIN_LOG_LEVEL", "COURSEKIT_CHECK_LOG", "JUPYTERLAB_SETTINGS_DIR"}
        env = {k: v for k, v in os.environ.items() if k not in drop and not k.startswith("JUPYTERLAB_WORKSPACES")}
        env.update(
            JUPYTER_CONFIG_DIR=str(home / "config"),
            JUPYTER_DATA_DIR=str(home / "data"),
            JUPYTER_RUNTIME_DIR=str(home / "runtime"),
            IPYTHONDIR=str(home / "ipython"),
            COURSEKIT_RESULTS_DIR=str(home / "results"),  # not the learner's results/, nor the nbval run's
        )
        command = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--ServerApp.root_dir={root}"]
        command += ["--ServerApp.ip=127.0.0.1", f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0"]
        command += [f"--IdentityProvider.token={self.token}"] + (["--allow-root"] if os.geteuid() == 0 else [])
        self.log = home / "jupyterlab.log"
        with self.log.open("w") as log:
            self.process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
        self._wait_until_up()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}"

    def api(self, path: str, method: str = "GET") -> Any:
        request = urllib.request.Request(
            self.url(f"api/{path}"), method=method, headers={"Authorization": f"token {self.token}"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            body = response.read()
        return json.loads(body) if body else None

    def _wait_until_up(self, timeout_s: float = 120) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"JupyterLab exited ({self.process.returncode}):\n{self.log.read_text()[-3000:]}")
            try:
                self.api("status")
                return
            except OSError:
                time.sleep(0.5)
        self.stop()
        raise RuntimeError(f"JupyterLab did not answer within {timeout_s} s:\n{self.log.read_text()[-3000:]}")

    def shut_down_kernels(self) -> None:
        """End every session and its kernel (one notebook at a time keeps memory to one framework)."""
        for session in self.api("sessions"):
            self.api(f"sessions/{session['id']}", method="DELETE")

    def stop(self) -> None:
        """SIGTERM: the server shuts its kernels down, then exits."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# Per cell of the open notebook, in order: the prompt, the outputs (mime type and text) and how many live widgets.
READ_CELLS = """() => Array.from(document.querySelectorAll('.jp-Notebook .jp-Cell')).map(cell => ({
    prompt: cell.querySelector('.jp-InputArea-prompt')?.textContent.trim() ?? '',
    outputs: Array.from(cell.querySelectorAll('.jp-OutputArea-output')).map(o => ({
        mime: o.getAttribute('data-mime-type'), text: o.textContent.trim()})),
    widgets: cell.querySelectorAll('.jp-OutputArea-output .jupyter-widgets').length,
    images: Array.from(cell.querySelectorAll('.jp-OutputArea-output img')).map(i => i.src),
}))"""
# Run All has finished: nothing queued or running, the first code cell has run, the kernel is idle.
FINISHED = """(first) => {
    const prompts = Array.from(document.querySelectorAll('.jp-Notebook .jp-Cell'))
        .map(c => c.querySelector('.jp-InputArea-prompt')?.textContent ?? '');
    const idle = document.querySelector('.jp-Notebook-ExecutionIndicator[data-status="idle"]');
    return idle && !prompts.some(p => p.includes('*')) && /\\[\\d+\\]/.test(prompts[first]);
}"""
IMAGES_CHANGED = """([index, before]) => {
    const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[index];
    const now = Array.from(cell.querySelectorAll('.jp-OutputArea-output img')).map(i => i.src);
    return now.length > 0 && now.join() !== before.join();
}"""


class Notebook:
    """One notebook open in JupyterLab in its own browser context; problems() lists what a learner sees go wrong."""

    def __init__(self, lab: Lab, browser: Any, path: Path) -> None:
        import nbformat

        self.lab, self.path = lab, path
        self.rel = path.resolve().relative_to(lab.root).as_posix()
        self.committed = path.read_bytes()
        self.cells = nbformat.read(path, as_version=4).cells
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
        self.page = self.context.new_page()
        self.page.goto(lab.url(f"lab/tree/{self.rel}?reset&token={lab.token}"))
        self.page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]', timeout=120_000)
        deadline = time.monotonic() + 120
        while not any(s["kernel"]["execution_state"] == "idle" for s in lab.api("sessions")):
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.rel}: no idle kernel after 120 s:\n{lab.log.read_text()[-2000:]}")
            time.sleep(0.5)
        self.page.keyboard.press("Control+b")  # hide the file browser: the notebook gets the whole width

    def close(self) -> None:
        """Close the page and end the kernel; the file must be as it was (JupyterLab saved nothing)."""
        self.context.close()
        self.lab.shut_down_kernels()
        if self.path.read_bytes() != self.committed:
            self.path.write_bytes(self.committed)
            raise AssertionError(f"{self.rel}: JupyterLab saved over the notebook (restored)")

    def code_cells(self) -> list[int]:
        return [i for i, c in enumerate(self.cells) if c.cell_type == "code" and c.source.strip()]

    def run_all(self, timeout_s: float = RUN_TIMEOUT_S) -> None:
        """Run > Run All Cells from the menu bar, then wait until every queued cell has finished."""
        first = self.code_cells()[0]
        prompt = self.page.locator(".jp-Notebook .jp-Cell").nth(first).locator(".jp-InputArea-prompt")
        for _ in range(3):  # a click before the kernel is fully connected runs nothing: try again
            self.page.get_by_role("menuitem", name="Run", exact=True).click()
            self.page.locator('li[data-command="runmenu:run-all"]').click()
            try:
                self.page.wait_for_function(
                    "(e) => e.textContent.trim() !== '[ ]:'", arg=prompt.element_handle(), timeout=15_000
                )
                break
            except Exception:
                continue
        self.page.wait_for_function(FINISHED, arg=first, timeout=timeout_s * 1000, polling=500)

    def read(self) -> list[dict[str, Any]]:
        cells = self.page.evaluate(READ_CELLS)
        if len(cells) != len(self.cells):
            raise AssertionError(f"{self.rel}: the page shows {len(cells)} cells, the file has {len(self.cells)}")
        return cells

    def problems(self, raw: re.Pattern[str], expect_figures: bool = True) -> list[str]:
        """Everything a learner would see go wrong after Run All, one line per problem, naming the cell.

        expect_figures: a notebook that draws must show a figure (False for an unsolved exercise,
        whose plots wait for the learner's answers).
        """
        found = []
        shown = self.read()
        for i, (cell, seen) in enumerate(zip(self.cells, shown, strict=True)):
            where = f"{self.rel} cell {i} {seen['prompt'].rstrip(':')}".rstrip()
            if i in self.code_cells() and not re.search(r"\[\d+\]", seen["prompt"]):
                found.append(f"{where}: did not run")
            for out in seen["outputs"]:
                text = out["text"]
                if out["mime"] == STDERR:
                    shown_text = text[-400:] if "Traceback" in text else text[:400]
                    found.append(f"{where}: stderr or error block: {shown_text}")
                elif WIDGET_AS_TEXT.search(text):
                    found.append(f"{where}: a widget shown as text, not live: {text[:200]}")
                elif match := raw.search(text):
                    found.append(f"{where}: a raw object echoed ({match[0]}): {text[:200]}")
            if cell.cell_type == "code" and re.search(r"\b(?:explore|interact|interactive)\(", cell.source):
                if not seen["widgets"]:
                    found.append(f"{where}: no live widget")
                if not seen["images"]:
                    found.append(f"{where}: no figure")
        draws = any(re.search(r"\bplots\b|matplotlib|\bplt\.", c.source) for c in self.cells if c.cell_type == "code")
        if expect_figures and draws and not any(seen["images"] for seen in shown):
            found.append(f"{self.rel}: draws, but no figure appears")
        return found

    def widget_problems(self, timeout_s: float = 60) -> list[str]:
        """Move every slider one step and pick another option in every dropdown; each must redraw its cell's figure."""
        found = []
        cells = self.page.locator(".jp-Notebook .jp-Cell")
        for i, seen in enumerate(self.read()):
            if not seen["widgets"]:
                continue
            cell = cells.nth(i)
            controls = cell.locator(".widget-slider .noUi-handle").all() + cell.locator(".widget-dropdown select").all()
            for control in controls:
                before = self.read()[i]["images"]
                what = self._change(control)
                try:
                    self.page.wait_for_function(IMAGES_CHANGED, arg=[i, before], timeout=timeout_s * 1000, polling=250)
                except Exception:  # Playwright's TimeoutError: said as a problem, with what was done
                    now = self.read()[i]
                    texts = [o["text"][:200] for o in now["outputs"] if o["text"]]
                    found.append(f"{self.rel} cell {i}: {what}, but the figure did not change (outputs: {texts})")
        return found

    def _change(self, control: Any) -> str:
        control.scroll_into_view_if_needed()
        if control.evaluate("e => e.tagName") == "SELECT":
            options = control.locator("option").all_text_contents()
            current = control.evaluate("e => e.options[e.selectedIndex].text")
            choice = next(o for o in options if o != current)
            control.select_option(label=choice)
            return f"chose {choice!r} in a dropdown"
        at_end = control.get_attribute("aria-valuenow") == control.get_attribute("aria-valuemax")
        key = "ArrowLeft" if at_end else "ArrowRight"
        control.focus()
        control.press(key)
        label = control.locator("xpath=ancestor::*[contains(@class,'widget-slider')]//label").first.text_content()
        return f"pressed {key} on slider {label!r}"

    def visible_text(self, index: int, text: str) -> bool:
        """Whether cell `index` shows `text` on screen once scrolled to."""
        output = self.page.locator(".jp-Notebook .jp-Cell").nth(index).locator(".jp-OutputArea-output", has_text=text)
        if not output.count():
            return False
        output.first.scroll_into_view_if_needed()
        return output.first.is_visible()

    def screenshot(self, path: Path) -> None:
        """The whole notebook in one image: the window grows to the notebook's height first."""
        path.parent.mkdir(parents=True, exist_ok=True)
        height = self.page.evaluate(
            """() => { const n = document.querySelector('.jp-WindowedPanel-outer');
                const last = Array.from(n.querySelectorAll('.jp-Cell')).pop().getBoundingClientRect();
                const chrome = window.innerHeight - n.clientHeight;
                return last.bottom - n.getBoundingClientRect().top + n.scrollTop + chrome + 40; }"""
        )
        self.page.set_viewport_size({"width": 1280, "height": min(int(height), 30_000)})
        self.page.evaluate("() => { document.querySelector('.jp-WindowedPanel-outer').scrollTop = 0; }")
        self.page.wait_for_timeout(500)
        self.page.screenshot(path=str(path), full_page=True)
