"""The published site: executed notebooks, the claims ledger, and a build with execution off.

Notebooks are executed once — by the test run (nbval, through tests/nbcapture.py) or here when
`make book` finds no up-to-date executed copy — and saved under _build/executed with a key of
their sources and of kafkalab's. The site is then built from a staged copy of the book whose
configuration turns execution off, so no notebook runs twice.
"""
from __future__ import annotations

import argparse
import datetime
import hashlib
import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from ..lab import topology
from . import i18n, measured

EXECUTED = topology.ROOT / "_build" / "executed"
STAGE = topology.ROOT / "_build" / "stage"
HTML = topology.ROOT / "_build" / "html"
KEY = "kafkalab_source_key"  # notebook metadata: which sources an executed copy came from
PAGES = ("intro.md", "glossary.md")
SOLUTIONS = "KAFKALAB_SOLUTIONS"  # set when the book is built or tested: solution cells run
WIDGET = "application/vnd.jupyter.widget-view+json"
# The site's tooling, which does not change what a notebook measures (not in its source key)
TOOLING = ("site.py", "i18n.py", "measured.py", "__main__.py")


def notebooks() -> list[Path]:
    """The book's notebooks in table-of-contents order (chapters, then exercises)."""
    toc = yaml.safe_load((topology.ROOT / "_toc.yml").read_text())
    files = [c["file"] for part in toc["parts"] for c in part["chapters"]]
    return [topology.ROOT / f"{f}.ipynb" for f in files if (topology.ROOT / f"{f}.ipynb").exists()]


def source_key(path: Path) -> str:
    """Hash of a notebook's cell sources and of the kafkalab code it calls."""
    nb = json.loads(path.read_text())
    h = hashlib.sha256()
    for cell in nb["cells"]:
        h.update(cell["cell_type"].encode() + "".join(cell["source"]).encode() + b"\0")
    for module in sorted((topology.ROOT / "kafkalab").rglob("*.py")):
        if module.parent.name != "book" or module.name not in TOOLING:
            h.update(module.read_bytes())
    return h.hexdigest()[:16]


def executed_path(path: Path) -> Path:
    """Where the executed copy of a book notebook lives."""
    return EXECUTED / path.relative_to(topology.ROOT)


def up_to_date(path: Path) -> bool:
    """True when the executed copy exists, was made from the current sources and ran cleanly."""
    copy = executed_path(path)
    if not copy.exists():
        return False
    nb = json.loads(copy.read_text())
    failed = any(o.get("output_type") == "error" for c in nb["cells"] for o in c.get("outputs", []))
    return not failed and nb["metadata"].get(KEY) == source_key(path)


def save_executed(path: Path, outputs: dict[int, list]) -> Path:
    """Write a notebook with outputs per code cell (by code-cell number) and its source key."""
    import nbformat
    nb = nbformat.read(path, as_version=4)
    count = 0
    for cell in nb.cells:
        if cell.cell_type == "code":
            outs = outputs.get(count)
            count += 1
            if outs is not None:
                cell.outputs = [nbformat.from_dict(o) for o in map(_without_widget, outs) if o]
                for o in cell.outputs:
                    if o.get("output_type") == "execute_result":
                        o["execution_count"] = count
                cell.execution_count = count
    nb.metadata[KEY] = source_key(path)
    copy = executed_path(path)
    copy.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, copy)
    return copy


def _without_widget(output: dict) -> dict | None:
    """An output without its widget view, which needs a live kernel and saved state the site
    lacks: a panel keeps its HTML drawing of the controls; a bare widget is dropped."""
    data = output.get("data", {})
    if WIDGET not in data:
        return output
    if "text/html" not in data:
        return None
    return {**output, "data": {k: v for k, v in data.items() if k != WIDGET}}


def execute(path: Path) -> Path:
    """Run a notebook with nbclient (600 s per cell) and save the executed copy; raise on error."""
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(path.parent)}})
    try:
        client.execute()
    finally:
        outputs = {i: c.outputs for i, c in enumerate(x for x in nb.cells if x.cell_type == "code")}
        save_executed(path, outputs)
    return executed_path(path)


_VERDICT = re.compile(r"\*\*([^*]*?Claim [A-Z]\d+[^*]*)\*\*([^*]*)")
# The roles _config.yml defines, and plain links (the kernel's documentation, man pages)
_SOURCE = re.compile(r"\{(?:kafka|rdkafka|kip|jira)\}`[^`]+`|\[[^\]\n]+\]\(https://[^)\s]+\)")


def _sections(cells: list[dict]) -> list[int]:
    """For each cell, the index of the level-2 heading cell whose section it is in (0 before any)."""
    start, out = 0, []
    for i, cell in enumerate(cells):
        if cell["cell_type"] == "markdown" and re.search(r"^## ", "".join(cell["source"]), re.M):
            start = i
        out.append(start)
    return out


def sources(cells: list[dict], section: int) -> list[str]:
    """The sources ({kafka}`...`, {kip}`...`, links) cited in one section's prose, once each."""
    found: list[str] = []
    for cell, owner in zip(cells, _sections(cells)):
        if owner == section and cell["cell_type"] == "markdown":
            found += _SOURCE.findall("".join(cell["source"]))
    return list(dict.fromkeys(found))  # once each, though a cell may cite a file twice


def anchors(cells: list[dict]) -> dict[int, str]:
    """For each markdown cell with a level-2 heading, the anchor MyST gives that heading on the
    page (myst_heading_anchors in _config.yml: GitHub-style, numbered when repeated)."""
    from myst_parser.mdit_to_docutils.base import default_slugify
    seen: set[str] = set()
    found: dict[int, str] = {}
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "markdown":
            continue
        for level, title in re.findall(r"^(#{1,2}) +(.+?) *$", "".join(cell["source"]), re.M):
            slug = base = default_slugify(title.replace("`", ""))
            n = 1
            while slug in seen:
                slug, n = f"{base}-{n}", n + 1
            seen.add(slug)
            if level == "##":
                found.setdefault(i, slug)
    return found


def verdicts(executed: Path, doc: str) -> list[dict]:
    """The claims a notebook rules on: claim id, verdict, whether its assert held, evidence, sources."""
    nb = json.loads(executed.read_text())
    cells = nb["cells"]
    owners = _sections(cells)
    slugs = anchors(cells)
    rows = []
    for i, cell in enumerate(cells):
        if cell["cell_type"] != "markdown":
            continue
        text = "".join(cell["source"])
        cited = sources(cells, owners[i])
        check = next((c for c in cells[i + 1:] if c["cell_type"] == "code"), None)
        for bold, after in _VERDICT.findall(text.replace("\n", " ")):
            ids = re.findall(r"Claim ([A-Z]\d+)", bold)
            verdict = verdict_text(bold, after)
            rows.extend({"claim": c, "doc": doc, "anchor": slugs.get(owners[i], ""),
                         "clients": clients(cells, owners[i], c),
                         "verdict": verdict or "see the chapter",
                         "status": _status(check), "evidence": _evidence(check),
                         "sources": cited} for c in ids)
    return rows


def verdict_text(bold: str, after: str) -> str:
    """A verdict's words: the bold text after its dash, else the first sentence after the bold."""
    if "—" in bold:
        return bold.split("—", 1)[1].strip(" .:")
    return after.strip(" .:").split(". ")[0][:90]


JAVA = re.compile(r"java_clients|client=\"java\"|\bjava=")  # a section that runs a Java client


def clients(cells: list[dict], section: int, claim: str) -> str:
    """Which clients a claim's section measured: both where it runs a Java client beside librdkafka."""
    code = "".join("".join(c["source"]) for c, owner in zip(cells, _sections(cells))
                   if owner == section and c["cell_type"] == "code")
    return "Java, librdkafka" if claim.startswith("J") or JAVA.search(code) else "librdkafka"


def _status(cell: dict | None) -> str:
    """'held', 'failed', 'skipped' (the cluster could not run it) or 'not run' for a verdict cell."""
    if cell is None or cell.get("execution_count") is None:
        return "not run"
    if any(o["output_type"] == "error" for o in cell["outputs"]):
        return "failed"
    return "skipped" if _evidence(cell).startswith("Skipped:") else "held"


def _evidence(cell: dict | None) -> str:
    """The last line the verdict cell printed: the measured numbers behind the verdict."""
    if cell is None:
        return ""
    text = "".join("".join(o.get("text", "")) for o in cell.get("outputs", [])
                   if o["output_type"] == "stream" and o.get("name") == "stdout")
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1] if lines else ""


def ledger(rows: list[dict], versions: dict[str, str], words: dict[str, str] | None = None) -> str:
    """The claims-ledger page (MyST markdown), one row per claim; fixed words from `words` if given."""
    t = lambda s: (words or {}).get(s, s)
    order = lambda r: (r["claim"][0], int(r["claim"][1:]))
    mark = {"held": "✓ held", "failed": "✗ FAILED", "not run": "– not run",
            "skipped": "– skipped (needs the lab)"}
    head = ("claim", "chapter", "verdict", "assert", "measured in this build")
    out = ["# " + t("Claims ledger"), "",
           t("Every claim the chapters test (each links to the section of its chapter that rules on "
             "it), the chapter's verdict (marked \"Java and librdkafka\" where its experiment ran "
             "Kafka's Java client beside librdkafka; librdkafka alone otherwise), whether its "
             "`assert` held in this build and the "
             "numbers that cell printed; below the table, the sources (Kafka and librdkafka files "
             "at the pinned releases, KIPs, JIRA issues) each claim's section cites. This page is "
             "generated from the executed notebooks each time the site is built."),
           "", t("Measured with {}.").format(", ".join(f"{t(k)} {v}" for k, v in versions.items())),
           "", "| " + " | ".join(map(t, head)) + " |", "|---|---|---|---|---|"]
    for r in sorted(rows, key=order):
        evidence = html.escape(r["evidence"]).replace("|", "\\|")
        target = f"{r['doc']}.ipynb#{r['anchor']}" if r.get("anchor") else f"{r['doc']}.ipynb"
        both = f" ({t('Java and librdkafka')})" if r.get("clients", "").startswith("Java") else ""
        out.append(f"| [{r['claim']}]({target}) | {{doc}}`/{r['doc']}` | {r['verdict']}{both} | "
                   f"{t(mark[r['status']])} | {evidence} |")
    out += ["", "## " + t("Sources by claim"), ""]
    cited: dict[tuple[str, str], list[str]] = {}
    for r in sorted(rows, key=order):
        found = cited.setdefault((r["claim"], r["doc"]), [])
        found += [s for s in dict.fromkeys(r.get("sources", [])) if s not in found]
    out += [f"- **{claim}** ({{doc}}`/{doc}`): {', '.join(found) or '–'}"
            for (claim, doc), found in cited.items()]
    return "\n".join(out) + "\n"


def stage(versions: dict[str, str]) -> list[dict]:
    """Copy the book with executed notebooks into _build/stage, execution off; return the ledger."""
    if STAGE.exists():
        shutil.rmtree(STAGE)
    STAGE.mkdir(parents=True)
    rows = []
    for nb in notebooks():
        copy = executed_path(nb)
        target = STAGE / nb.relative_to(topology.ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(copy, target)
        doc = str(nb.relative_to(topology.ROOT).with_suffix(""))
        if doc.startswith("chapters/"):
            rows += verdicts(copy, doc)
    for page in PAGES:
        shutil.copy(topology.ROOT / page, STAGE / page)
    (STAGE / "ledger.md").write_text(ledger(rows, versions))
    (STAGE / "measured.md").write_text(measured.page(topology.ROOT / "_build", versions))
    (STAGE / "_toc.yml").write_text(yaml.safe_dump(staged_toc(), sort_keys=False))
    config = i18n.configure(yaml.safe_load((topology.ROOT / "_config.yml").read_text()))
    built = datetime.date.today().isoformat()
    config.setdefault("html", {})["extra_footer"] = (
        "<p>Measured with " + ", ".join(f"{k} {v}" for k, v in versions.items())
        + f"; built {built}.</p>")
    url = repository_url()
    if url:
        config["repository"] = {"url": url, "branch": "main", "path_to_book": ""}
        config["html"].update(use_repository_button=True, use_issues_button=True)
    (STAGE / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    return rows


def staged_toc() -> dict:
    """The table of contents with the generated pages (ledger, measured) under Reference."""
    toc = yaml.safe_load((topology.ROOT / "_toc.yml").read_text())
    for part in toc["parts"]:
        if part.get("caption") == "Reference":
            part["chapters"][:0] = [{"file": "ledger"}, {"file": "measured"}]
    return toc


def repository_url() -> str:
    """The public repository for the site's buttons: $BOOK_REPOSITORY_URL, else git's origin."""
    url = os.environ.get("BOOK_REPOSITORY_URL", "")
    if not url:
        found = subprocess.run(["git", "-C", str(topology.ROOT), "remote", "get-url", "origin"],
                               capture_output=True, text=True)
        url = found.stdout.strip() if found.returncode == 0 else ""
    if url.startswith("git@github.com:"):
        url = "https://github.com/" + url.split(":", 1)[1]
    url = url.removesuffix(".git")
    return url if url.startswith("https://") else ""  # a local path is no link for readers


def build(run: bool = True) -> Path:
    """Execute stale notebooks (when run), stage, build _build/html and its Korean edition html/ko."""
    from .. import versions
    os.environ[SOLUTIONS] = "1"  # the exercises' solution cells run, and are checked
    stale = [nb for nb in notebooks() if not up_to_date(nb)]
    if stale and not run:
        names = ", ".join(str(nb.relative_to(topology.ROOT)) for nb in stale)
        raise SystemExit(f"no up-to-date executed copy of {names}: run the notebooks first "
                         "(`make test` saves them) or build with `make book`")
    for nb in stale:
        print(f"executing {nb.relative_to(topology.ROOT)}", flush=True)
        execute(nb)
    found = versions()
    rows = stage(found)
    failed = [r["claim"] for r in rows if r["status"] not in ("held", "skipped")]
    if failed:
        raise SystemExit(f"verdicts that did not hold: {failed}")
    i18n.write_generated(STAGE, rows, found)
    built = i18n.build(STAGE, topology.ROOT / "_build" / "site")  # English and Korean
    if HTML.exists():
        shutil.rmtree(HTML)
    shutil.copytree(built["en"], HTML)
    shutil.copytree(built[i18n.LANGUAGE], HTML / i18n.LANGUAGE)
    print(f"site: {HTML / 'index.html'}, {HTML / i18n.LANGUAGE / 'index.html'} "
          f"({len(rows)} verdicts in the ledger)")
    return HTML


def setup(app) -> dict:
    """Sphinx extension for the staged build: each page loads each script once.

    sphinx-thebe 0.3.1 registers its inline configuration script twice under jupyter-book
    1.0.4, and the second copy fails in the browser ("THEBE_JS_URL has already been declared").
    """
    def unique_scripts(app, pagename, templatename, context, doctree) -> None:
        seen, kept = set(), []
        for script in context.get("script_files", []):
            key = (getattr(script, "filename", str(script)) or "",  # '' and None: inline
                   repr(sorted(getattr(script, "attributes", {}).items())))
            if key not in seen:
                seen.add(key)
                kept.append(script)
        if "script_files" in context:
            context["script_files"][:] = kept
    app.connect("builder-inited", add_stylesheet)
    app.connect("html-page-context", unique_scripts, priority=900)  # after the others add theirs
    app.connect("env-get-updated", number_exercises_by_chapter, priority=900)  # after numfig's
    return {"parallel_read_safe": True, "parallel_write_safe": True}


def add_stylesheet(app) -> None:
    """The book's stylesheet (kafkalab/book/static/kafkalab.css): code and output fit the column."""
    app.config.html_static_path.append(str(Path(__file__).parent / "static"))
    app.add_css_file("kafkalab.css")


def number_exercises_by_chapter(app, env) -> list[str]:
    """Number each exercise page's exercises after its chapter: exercises/12-x -> 12.1, 12.2...

    Sphinx numbers enumerable nodes across the whole book when no toctree is numbered;
    this rewrites the numbers it assigned, in page order, before any page is written.
    """
    for doc, kinds in env.toc_fignumbers.items():
        found = re.match(r"exercises/(\d+)-", doc)
        if found and "exercise" in kinds:
            ordered = sorted(kinds["exercise"].items(), key=lambda kv: kv[1])
            for i, (node_id, _) in enumerate(ordered, start=1):
                kinds["exercise"][node_id] = (int(found.group(1)), i)
    return []


def main(argv: list[str] | None = None) -> None:
    """`python -m kafkalab.book [--no-execute | --locales]`: build the site, or refresh its catalogs."""
    p = argparse.ArgumentParser(prog="python -m kafkalab.book", description=build.__doc__)
    p.add_argument("--no-execute", action="store_true",
                   help="fail instead of running notebooks without an up-to-date executed copy")
    p.add_argument("--locales", action="store_true", help=i18n.refresh.__doc__)
    args = p.parse_args(argv)
    if args.locales:
        i18n.refresh()
    else:
        build(run=not args.no_execute)


if __name__ == "__main__":
    main()
