"""JupyterLab as `make lab` starts it, driven in headless Chromium the way a reader uses it:
open a chapter, run every cell, press a panel's Run button, and look for a new figure.

Needs the lab running (the chapter's cells talk to it), the venv's JupyterLab and Debian's
chromium; `make test` runs it after the notebooks, with the lab still up.
"""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from test_site import CHROMIUM, FLAGS  # the same browser and flags as the site tests

from kafkalab.book import site as book

CHAPTER = "chapters/11-log-file.ipynb"  # short, and its panel draws a figure
VENV_BIN = Path(sys.executable).parent


def _free_port() -> int:
    """A TCP port nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def jupyterlab(tmp_path_factory):
    """JupyterLab from the venv, as `make lab` runs it, on a free port with a token, serving a
    copy of the chapter (so that no autosave writes outputs into the repository); its URL."""
    port, token = _free_port(), uuid.uuid4().hex
    root = tmp_path_factory.mktemp("jupyterlab")
    shutil.copy(book.topology.ROOT / CHAPTER, root / Path(CHAPTER).name)
    log = open(book.topology.ROOT / "_build" / "jupyterlab.log", "w")
    proc = subprocess.Popen(
        [str(VENV_BIN / "jupyter"), "lab", "--no-browser", f"--port={port}", "--ip=127.0.0.1",
         f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
         "--LabApp.expose_app_in_browser=True", *(["--allow-root"] if os.geteuid() == 0 else [])],
        stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 60
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), 1).close()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail(f"JupyterLab did not listen on {port} within 60 s: see _build/jupyterlab.log")
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}", token
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def _wait(page, script: str, seconds: float, what: str):
    """Evaluate script in the page until it returns something truthy; fail naming `what`."""
    deadline = time.monotonic() + seconds
    while (value := page.evaluate(script)) in (None, False, 0, ""):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {seconds:g} s waiting for {what}")
        time.sleep(0.5)
    return value


def test_a_chapter_runs_in_jupyterlab_and_its_panel_draws_again(jupyterlab):
    """Run All on a chapter, then the panel's Run button: a new figure, no error, no pop-up."""
    if not CHROMIUM.exists():
        pytest.fail("no /usr/bin/chromium: `make tools` installs Debian's chromium as root")
    from playwright.sync_api import sync_playwright
    url, token = jupyterlab
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{url}/lab/tree/{Path(CHAPTER).name}?token={token}", wait_until="load")
        _wait(page, "window.jupyterapp && document.querySelectorAll('.jp-Notebook .jp-Cell').length",
              90, "the notebook to open")
        _wait(page, "(() => { const k = window.jupyterapp.shell.currentWidget?.sessionContext;"
                    " return k && k.session && k.session.kernel && k.session.kernel.status === 'idle'; })()",
              90, "the kernel to start")
        page.evaluate("window.jupyterapp.commands.execute('notebook:run-all-cells')")
        code_cells = page.evaluate("document.querySelectorAll('.jp-Notebook .jp-CodeCell').length")
        _wait(page, """(() => {
            const prompts = [...document.querySelectorAll('.jp-Notebook .jp-CodeCell .jp-InputPrompt')]
                .map(p => p.textContent.trim());
            return prompts.length > 0 && prompts.every(t => /^\\[\\d+\\]:$/.test(t));
        })()""", 240, f"all {code_cells} code cells of {CHAPTER} to run")
        text = page.inner_text(".jp-Notebook")
        assert "Traceback" not in text and "AssertionError" not in text, \
            text[max(text.find("Traceback"), 0):][:2000]
        # the live panel only: the HTML drawing of its controls is for the site
        assert page.locator(".jp-Notebook .kl-panel").count() == 0, "JupyterLab shows the static panel"
        names = page.eval_on_selector_all(
            ".widget-interact .widget-label",
            "els => els.filter(e => e.scrollWidth > e.clientWidth + 1).map(e => e.textContent)")
        assert not names, f"control names cut short in JupyterLab: {names}"
        buttons = page.locator(".widget-interact button")
        assert buttons.count() == 1 and buttons.first.inner_text() == "Run", \
            [buttons.nth(i).inner_text() for i in range(buttons.count())]
        figures = "document.querySelectorAll('.jp-Notebook .widget-interact img').length"
        before = page.evaluate(figures)
        buttons.first.scroll_into_view_if_needed()
        for run in (1, 2):  # a second run replaces the panel's figure instead of adding one
            page.evaluate("""(() => { window.__states = [];
                const k = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
                k.statusChanged.connect((_, s) => window.__states.push(s)); })()""")
            buttons.first.click()
            # outputs reach the page before the kernel's idle status that ends the run
            _wait(page, "window.__states.includes('busy') && window.__states.at(-1) === 'idle'",
                  120, f"run {run} of the panel")
            assert page.evaluate(figures) == before + 1, (run, page.evaluate(figures))
        assert "Would you like to get notified" not in page.inner_text("body")
        SHOT = book.topology.ROOT / "_build" / "screenshots" / "jupyterlab-panel.png"
        SHOT.parent.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOT))
        browser.close()
