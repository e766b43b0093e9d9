"""The built site, opened page by page in headless Chromium the way a reader opens it.

Needs _build/html (`make book`, or `make test`, which builds it from the notebooks it just ran)
and Debian's chromium at /usr/bin/chromium; Playwright drives it and never downloads a browser.
"""
from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest

from kafkalab.book import i18n
from kafkalab.book import site as book

CHROMIUM = Path("/usr/bin/chromium")
# No host but 127.0.0.1 resolves, so a page can never load anything from the internet (a rule
# in the browser: Playwright routing sent every request through Python, ~0.3 s a page more).
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"]
SHOTS = book.topology.ROOT / "_build" / "screenshots"
PAGES = sorted(p.relative_to(book.HTML).as_posix() for p in book.HTML.rglob("*.html")
               if not p.relative_to(book.HTML).as_posix().startswith(("_", "ko/"))) \
    if book.HTML.exists() else []
KO = "ko/"  # the Korean edition: the same pages under _build/html/ko (tested by test_korean_pages)


@pytest.fixture(scope="module")
def site():
    """The site served on 127.0.0.1 (a random free port) for the module's tests."""
    if not (book.HTML / "index.html").exists():
        pytest.fail(f"no site at {book.HTML}: build it with `make book`")
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:
            """Keep the test output free of one line per request."""
    handler = functools.partial(Quiet, directory=str(book.HTML))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    """Headless Debian Chromium under Playwright."""
    if not CHROMIUM.exists():
        pytest.fail("no /usr/bin/chromium: `make tools` installs Debian's chromium as root")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
        yield b
        b.close()


def _open(browser, url: str):
    """A fresh page in a context of its own (127.0.0.1 only), recording script errors and
    failed loads. (One context for all pages once left a page waiting 30 s for the network to
    go idle.)"""
    page = browser.new_page(viewport={"width": 1300, "height": 900})
    page.errors, page.failed = [], []
    page.on("pageerror", lambda e: page.errors.append(str(e)))
    page.on("response", lambda r: r.status >= 400 and page.failed.append(f"{r.status} {r.url}"))
    response = page.goto(url, wait_until="load")
    assert response is not None and response.ok, f"{url}: {response and response.status}"
    return page


# The code, output and table blocks of the article, and the start of each one wider than it
# shows (the reader would scroll it sideways): a block wider than its own box, or a table
# wider than the box that holds it.
WIDE_BLOCKS = """() => {
  const blocks = [...document.querySelectorAll('article.bd-article pre, article.bd-article table')];
  const wide = blocks.filter(e => e.scrollWidth > e.clientWidth + 1
    || (e.tagName === 'TABLE' && e.offsetWidth > e.parentElement.clientWidth + 1));
  return [blocks.length, wide.map(e => e.innerText.slice(0, 60))];
}"""


@pytest.mark.parametrize("path", PAGES)
def test_page_loads_without_errors(browser, site, path):
    """Every page loads, runs no failing script, loads all of its own files, links inside the site,
    fits the column; a chapter's panels show all their controls, named, with a Run button and
    where they run (once loaded: the load event waits for every image)."""
    panels = panels_made(path) if path.startswith("chapters/") else []
    page = _open(browser, f"{site}/{path}")
    try:
        SHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SHOTS / (path.replace("/", "_") + ".png")), full_page=False)
        assert not page.errors, f"{path}: JavaScript errors {page.errors}"
        assert not page.failed, f"{path}: failed loads {page.failed}"
        broken = []
        for href in page.eval_on_selector_all("a[href]", "els => els.map(e => e.href)"):
            u = urlparse(href)
            if u.hostname != "127.0.0.1" or not u.path:
                continue
            target = book.HTML / unquote(u.path).lstrip("/")
            if not (target.is_file() or (target / "index.html").is_file()):
                broken.append(u.path)
        assert not broken, f"{path}: links to missing pages {sorted(set(broken))}"
        switch = page.eval_on_selector_all("article.bd-article .kl-language a", "els => els.map(e => e.href)")
        if path not in ("genindex.html", "search.html"):  # pages of the book's documents
            here = page.url.removeprefix(f"{site}/")  # index.html leads on to the first page
            assert switch == [f"{site}/{KO}{here}"], f"{path}: the language switch leads to {switch}"
        if path.startswith("chapters/"):
            widths = page.eval_on_selector_all("img", "els => els.map(e => e.naturalWidth)")
            assert any(w > 0 for w in widths), f"{path}: no figure loaded ({widths})"
        if path.startswith(("chapters/", "exercises/")):
            made = figures_made(path)
            shown = page.eval_on_selector_all(".cell_output img", "els => els.length")
            assert shown == made, f"{path}: {shown} figures on the page, {made} made by the notebook"
            text = " ".join(page.eval_on_selector_all(".cell_output", "els => els.map(e => e.innerText)"))
            for junk in ("<function ", "<Figure size"):
                assert junk not in text, f"{path}: an output shows {junk!r}"
        for width in (1300, 900):  # a laptop, and a window beside another
            page.set_viewport_size({"width": width, "height": 900})
            blocks, wide = page.evaluate(WIDE_BLOCKS)
            assert len(wide) <= 0.05 * blocks, (
                f"{path} at {width} px: {len(wide)} of {blocks} code, output and table blocks "
                f"are wider than the column (the first starts {wide[0]!r})")
            drawn = page.evaluate(PANELS)
            assert [d[0] for d in drawn] == panels, (
                f"{path} at {width} px: controls per panel {[d[0] for d in drawn]}, the notebook "
                f"builds {panels}")
            assert all(d[1] and d[2] for d in drawn), f"{path}: a panel without Run or `make lab`"
            assert not any(d[3] for d in drawn), f"{path} at {width} px: a panel is wider than the column"
    finally:
        page.close()


def figures_made(path: str) -> int:
    """PNG figures in the executed notebook behind a page; fails if a cell shows one twice."""
    import json
    nb = json.loads((book.EXECUTED / path.replace(".html", ".ipynb")).read_text())
    count = 0
    for cell in nb["cells"]:
        pngs = [o["data"]["image/png"] for o in cell.get("outputs", [])
                if "image/png" in o.get("data", {})]
        assert len(pngs) == len(set(map(str, pngs))), f"{path}: a cell shows the same figure twice"
        count += len(pngs)
    return count


def panels_made(path: str) -> list[int]:
    """For each widgets.panel(...) call in the notebook behind a page, how many controls it passes."""
    import ast
    import json
    nb = json.loads((book.EXECUTED / path.replace(".html", ".ipynb")).read_text())
    counts = []
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and "panel(" in "".join(cell["source"]):
            tree = ast.parse("".join(cell["source"]))
            counts += [len(call.keywords)
                       for call in ast.walk(tree) if isinstance(call, ast.Call)
                       and getattr(call.func, "attr", getattr(call.func, "id", "")) == "panel"]
    return counts


# Each panel drawn on a page: its controls (shown, with a name), whether its Run button is
# there, whether it says where it runs, and whether it is wider than its box.
PANELS = """() => [...document.querySelectorAll('article.bd-article .kl-panel')].map(p => [
  [...p.querySelectorAll('label')].filter(l => l.textContent.trim()
     && l.querySelector('input, select')?.offsetWidth > 0).length,
  [...p.querySelectorAll('button')].some(b => b.textContent.trim() === 'Run' && b.offsetWidth > 0),
  p.innerText.includes('make lab'),
  p.scrollWidth > p.clientWidth + 1])"""


def test_every_chapter_is_a_page():
    """Each chapter notebook became a page of the site."""
    for nb in book.notebooks():
        html = book.HTML / nb.relative_to(book.topology.ROOT).with_suffix(".html")
        assert html.is_file(), f"{nb.name} has no page at {html}"


def test_search_finds_the_acks_chapter(browser, site):
    """The site's search returns the acks chapter for 'acks'."""
    page = _open(browser, f"{site}/search.html?q=acks")
    try:
        page.wait_for_selector("#search-results a[href*='01-acks']", timeout=20_000)
        assert not page.errors, page.errors
    finally:
        page.close()


@pytest.mark.parametrize("edition", ["", KO])
def test_ledger_lists_every_verdict_as_held(edition):
    """The claims ledger (of each edition) names each claim the chapters rule on, each assert held."""
    text = (book.HTML / edition / "ledger.html").read_text()
    for claim in ("A1", "A2", "A3", "A4", "A5", "A6", "A7", "B1", "B2", "B3", "B4", "B5", "B6",
                  "C1", "C2", "C3", "C4", "C5", "D1", "D2", "D3", "D4", "D5",
                  "E1", "E2", "E3", "E4", "E5", "F1", "F2", "F3", "F4", "F5", "F6", "F7",
                  "G1", "G2", "G3", "G4", "G5", "G6", "G7", "G8",
                  "I1", "I2", "I3", "I4", "I5", "I6"):
        assert f">{claim}<" in text, f"claim {claim} missing from the ledger"
    assert "FAILED" not in text and "not run" not in text
    assert i18n.KO["✗ FAILED"] not in text and i18n.KO["– not run"] not in text
    assert "https://github.com/apache/kafka/blob/" in text, "no claim lists a Kafka source"


@pytest.mark.parametrize("edition", ["", KO])
def test_each_ledger_row_links_to_its_verdicts_section(edition):
    """Every claim in the ledger's table links to an anchor that its chapter's page has."""
    import re
    table = (book.HTML / edition / "ledger.html").read_text().split('<section id="sources-by-claim">')[0]
    links = re.findall(r'<a class="reference internal" href="(chapters/[^"#]+\.html)#([^"]+)">'
                       r'<span class="std std-ref">([A-I]\d+)</span>', table)
    assert len({claim for _, _, claim in links}) >= 49, f"{len(links)} claims link to a section"
    for page, anchor, claim in links:
        text = (book.HTML / edition / page).read_text()
        assert f'id="{anchor}"' in text, f"{claim}: no #{anchor} on {edition}{page}"


def test_the_measured_page_describes_the_run_the_site_came_from():
    """The measured page has the lab's start from this run and every chapter's seconds."""
    text = (book.HTML / "measured.html").read_text()
    assert "lab ready in" in text or "lab already running in" in text
    for nb in sorted((book.topology.ROOT / "chapters").glob("*.ipynb")):
        assert f"chapters/{nb.name}" in text, f"{nb.name} has no time on the measured page"


def test_exercises_are_numbered_after_their_chapter():
    """Exercise pages number their tasks chapter.task (exercises/12-x: 12.1, 12.2, ...), at least three."""
    import re
    for page in sorted((book.HTML / "exercises").glob("*.html")):
        chapter = int(page.name.split("-")[0])
        numbers = set(re.findall(r"Exercise (\d+\.\d+)", page.read_text()))
        assert {f"{chapter}.1", f"{chapter}.2", f"{chapter}.3"} <= numbers, (page.name, numbers)


# The Korean page's language, its switch back to English, its figures, and how much of its
# prose (paragraphs, list items, headings, glossary entries of three words or more, outside
# code, outputs and tables) has no Hangul; on the ledger, the verdicts without Hangul.
KOREAN = """() => {
  const a = document.querySelector('article.bd-article');
  const prose = a ? [...a.querySelectorAll('p, li, h1, h2, h3, h4, dt, dd')].filter(e =>
      !e.closest('pre, table, .cell_output, .cell_input, .kl-language, .kl-panel')
      && !e.querySelector('p')).map(e => e.innerText.trim())
    .filter(t => (t.match(/[A-Za-z\\uac00-\\ud7a3]+/g) || []).length >= 3) : [];
  const hangul = t => /[\\uac00-\\ud7a3]/.test(t);
  const verdicts = [...document.querySelectorAll('article.bd-article tbody tr td:nth-child(3)')];
  return {lang: document.documentElement.lang,
          switch: [...document.querySelectorAll('article.bd-article .kl-language a')].map(e => e.href),
          figures: [...document.querySelectorAll('.cell_output img')].map(e => e.naturalWidth),
          prose: prose.length, english: prose.filter(t => !hangul(t)).map(t => t.slice(0, 60)),
          verdicts: verdicts.filter(e => !hangul(e.innerText)).map(e => e.innerText.slice(0, 40))};
}"""
# The book's pages, eight to a test item (a page each would double the suite's time)
KO_PAGES = [p for p in PAGES if p not in ("index.html", "search.html", "genindex.html")]
KO_GROUPS = {f"{g[0]}..{g[-1]}": g for g in (KO_PAGES[i:i + 8] for i in range(0, len(KO_PAGES), 8))}


@pytest.mark.parametrize("group", KO_GROUPS)
def test_korean_pages(browser, site, group):
    """Korean pages: no script errors, lang="ko", switch, figures, column width, Korean prose."""
    import subprocess
    fonts = subprocess.run(["fc-list", ":lang=ko"], capture_output=True, text=True).stdout
    assert fonts.strip(), "no Korean font to measure widths with: `make tools` installs fonts-nanum"
    pages = KO_GROUPS[group]
    problems = []
    page = _open(browser, f"{site}/{KO}{pages[0]}")  # one tab visits the group's pages in turn
    try:
        for path in pages:
            errors, failed = len(page.errors), len(page.failed)
            if path != pages[0]:
                page.set_viewport_size({"width": 1300, "height": 900})
                page.goto(f"{site}/{KO}{path}", wait_until="load")  # its scripts ran, its images came
            page.screenshot(path=str(SHOTS / ("ko_" + path.replace("/", "_") + ".png")), full_page=False)
            found = page.evaluate(KOREAN)
            if page.errors[errors:] or page.failed[failed:]:
                problems.append(f"{path}: JavaScript errors {page.errors[errors:]}, "
                                f"failed loads {page.failed[failed:]}")
            if found["lang"] != "ko" or found["switch"] != [f"{site}/{path}"]:
                problems.append(f"{path}: lang={found['lang']!r}, the switch leads to {found['switch']}")
            if path.startswith(("chapters/", "exercises/")) and (
                    len(found["figures"]) != figures_made(path) or 0 in found["figures"]):
                problems.append(f"{path}: figures {found['figures']}, {figures_made(path)} made")
            verdicts = found["verdicts"] if path == "ledger.html" else []
            if len(found["english"]) > 0.2 * found["prose"] or verdicts:
                problems.append(f"{path}: {len(found['english'])} of {found['prose']} paragraphs "
                                f"and {len(verdicts)} ledger verdicts have no Hangul "
                                f"(first: {(found['english'] + verdicts)[:2]})")
            for width in (1300, 900):
                page.set_viewport_size({"width": width, "height": 900})
                blocks, wide = page.evaluate(WIDE_BLOCKS)
                if len(wide) > 0.05 * blocks:
                    problems.append(f"{path} at {width} px: {len(wide)} of {blocks} blocks wider than "
                                    f"the column (the first starts {wide[0]!r})")
    finally:
        page.close()
    assert pages and not problems, f"{len(problems)} problems on {len(pages)} Korean pages:\n" + \
        "\n".join(problems)
