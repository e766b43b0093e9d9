"""The Korean edition: catalogs of the book's prose, the Korean build, the language switch.

Sphinx's gettext builder extracts every paragraph, heading and table cell of the book's sources
(notebook markdown cells included) into one catalog per document; sphinx-intl keeps them as
locales/ko/LC_MESSAGES/<document>.po, where translators write each msgstr. The Korean site is
the same stage as the English one, built with `language=ko`. The ledger and the measured page
hold numbers of the run, so they never go through gettext: the Korean stage gets its own copy
of each, written here, its fixed words from KO and each verdict from its chapter's catalog.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import sphinx.locale
import yaml
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po
from sphinx import addnodes
from sphinx.transforms import SphinxTransform
from sphinx.util import logging
from sphinx.util.i18n import docname_to_domain

from ..lab import topology

logger = logging.getLogger(__name__)
LANGUAGE = "ko"
LOCALES = topology.ROOT / "locales"
CATALOGS = LOCALES / LANGUAGE / "LC_MESSAGES"
GETTEXT = topology.ROOT / "_build" / "gettext"
GENERATED = {"ledger": "Claims ledger", "measured": "Measured: this build"}  # page: its title
REFRESH = "python -m kafkalab.book --locales"  # or `make locales`
# Sphinx settings of both builds and of the extraction: one catalog per document, no source
# locations or ids (they change with every edit elsewhere), literal blocks left as they are.
SETTINGS = {"gettext_compact": False, "gettext_uuid": False, "gettext_location": False,
            "gettext_additional_targets": [], "locale_dirs": [str(LOCALES)],
            "project": "Kafka Internals, Measured"}
# The Korean words of the generated pages (site.ledger, measured.page), the book's title and
# its footer, by their English text.
KO = {
    "Kafka Internals, Measured": "측정으로 보는 Kafka 내부 구조",
    "Search this book...": "이 책에서 검색...",
    "Show code cell {type}": "코드 셀 펼치기", "Hide code cell {type}": "코드 셀 접기",
    "Measured with {}; built {}.": "측정 환경: {}. 빌드: {}.",
    "Claims ledger": "주장 판정표",
    "Every claim the chapters test (each links to the section of its chapter that rules on it), "
    "the chapter's verdict (marked \"Java and librdkafka\" where its experiment ran Kafka's Java "
    "client beside librdkafka; librdkafka alone otherwise), whether its `assert` held in this "
    "build and the numbers that cell printed; below the table, the sources (Kafka and librdkafka "
    "files at the pinned releases, KIPs, JIRA issues) each claim's section cites. This page is "
    "generated from the executed notebooks each time the site is built.":
        "각 장이 검증하는 모든 주장(주장마다 그 주장을 판정하는 장의 절로 연결됩니다)과 그 장의 "
        "판정(실험에서 librdkafka 옆에 Kafka의 Java 클라이언트도 실행했으면 \"Java와 librdkafka\", "
        "아니면 librdkafka만), 이번 빌드에서 그 `assert`가 성립했는지, 그 셀이 출력한 수치입니다. "
        "표 아래에는 주장마다 그 절이 인용한 출처(고정된 릴리스의 Kafka와 librdkafka 파일, KIP, "
        "JIRA 이슈)가 있습니다. 이 페이지는 사이트를 빌드할 때마다 실행된 노트북에서 만들어집니다.",
    "Measured with {}.": "측정 환경: {}.",
    "claim": "주장", "chapter": "장", "verdict": "판정", "assert": "assert",
    "measured in this build": "이번 빌드의 측정값", "Java and librdkafka": "Java와 librdkafka",
    "✓ held": "✓ 성립", "✗ FAILED": "✗ 실패", "– not run": "– 실행 안 됨",
    "– skipped (needs the lab)": "– 건너뜀(실습 클러스터 필요)", "Sources by claim": "주장별 출처",
    "Java (the lab)": "Java(실습 클러스터)", "external cluster": "외부 클러스터",
    "Measured: this build": "측정: 이번 빌드",
    "The machine, the versions and the times of the test run this site was built from. Every "
    "chapter's own numbers are on its page; this page is generated with the site, so it never "
    "describes an older run.":
        "이 사이트를 만든 테스트 실행의 머신, 버전, 시간입니다. 각 장의 수치는 그 장의 페이지에 "
        "있습니다. 이 페이지는 사이트와 함께 만들어지므로 이전 실행을 설명하는 일이 없습니다.",
    "The machine": "머신", "part": "항목", "this machine": "이 머신", "processor": "프로세서",
    "cores": "코어 수", "memory": "메모리", "system": "운영체제", "kernel": "커널",
    "Versions": "버전", "software": "소프트웨어", "version": "버전", "The lab": "실습 클러스터",
    "`python -m kafkalab up` printed: *{}*. Each node then used (resident memory, as "
    "`python -m kafkalab status` shows it):":
        "`python -m kafkalab up`의 출력: *{}*. 이어서 각 노드가 쓴 메모리(`python -m kafkalab "
        "status`가 보여 주는 상주 메모리):",
    "node": "노드", "role": "역할", "port": "포트", "state": "상태", "controller": "컨트롤러",
    "broker": "브로커", "up": "실행 중", "down": "중지됨", "paused": "일시 정지",
    "No lab start was recorded with this build (`make test` records one).":
        "이 빌드에는 기록된 실습 클러스터 시작이 없습니다(`make test`가 기록합니다).",
    "How long each part of the run took": "실행의 각 부분에 걸린 시간",
    "This site was built without a recorded test run (`make book` alone); `make test` records one.":
        "이 사이트는 기록된 테스트 실행 없이(`make book`만으로) 빌드되었습니다. "
        "`make test`가 실행을 기록합니다.",
    "Seconds of the test run spent in each notebook (the sum of its cells) and in the unit and "
    "behaviour tests:": "테스트 실행에서 노트북마다(셀 시간의 합), 그리고 단위·동작 테스트에 쓴 시간(초):",
    "file": "파일", "seconds": "초", "all": "전체", "item": "항목",
    "Cells and tests of 10 s or more, the waits of the experiments in them:":
        "10초 이상 걸린 셀과 테스트(그 안에서 실험이 기다린 시간):",
}


def _bin(name: str) -> str:
    """A console script of the venv this Python runs in."""
    return str(Path(sys.executable).parent / name)


def configure(config: dict) -> dict:
    """A staged _config.yml: execution off, the site's extensions, the i18n settings."""
    config["execute"]["execute_notebooks"] = "off"
    config["sphinx"]["extra_extensions"] += ["kafkalab.book.site", "kafkalab.book.i18n"]
    config["sphinx"].setdefault("config", {}).update(SETTINGS)
    return config


def source_stage(dest: Path) -> Path:
    """The book's sources (notebooks without outputs) staged in dest for extraction, with conf.py."""
    from . import site
    # Copies keep their source's time, so Sphinx reads again only the documents that changed.
    for source in site.notebooks() + [topology.ROOT / page for page in site.PAGES]:
        target = dest / source.relative_to(topology.ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    for doc, title in GENERATED.items():  # linked from the pages; their text is not extracted
        if not (dest / f"{doc}.md").exists():
            (dest / f"{doc}.md").write_text(f"# {title}\n")
    (dest / "_toc.yml").write_text(yaml.safe_dump(site.staged_toc(), sort_keys=False))
    config = configure(yaml.safe_load((topology.ROOT / "_config.yml").read_text()))
    (dest / "_config.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    sphinx_conf(dest)
    return dest


def sphinx_conf(stage: Path) -> Path:
    """conf.py for a stage, as jupyter-book generates it from the stage's _config.yml."""
    subprocess.run([_bin("jupyter-book"), "config", "sphinx", str(stage)], check=True,
                   stdout=subprocess.DEVNULL)
    return stage / "conf.py"


def extract(dest: Path = GETTEXT) -> Path:
    """Message templates (.pot) of every document but the generated pages, in dest/pot."""
    stage = source_stage(dest / "stage")
    pot = dest / "pot"
    if pot.exists():
        shutil.rmtree(pot)
    subprocess.run([_bin("sphinx-build"), "-b", "gettext", "-q", str(stage), str(pot),
                    "-d", str(dest / "doctrees")], check=True)
    for doc in GENERATED:
        (pot / f"{doc}.pot").unlink(missing_ok=True)
    return pot


def refresh() -> None:
    """Extract the English prose and merge it into locales/ko (sphinx-intl keeps every msgstr)."""
    pot = extract()
    kept = set(CATALOGS.rglob("*.po"))
    subprocess.run([_bin("sphinx-intl"), "update", "-p", str(pot), "-l", LANGUAGE,
                    "-d", str(LOCALES)], check=True)
    for po in set(CATALOGS.rglob("*.po")) - kept:  # a template's header is fuzzy; a catalog's is not
        po.write_text(po.read_text().replace('#, fuzzy\nmsgid ""\nmsgstr ""', 'msgid ""\nmsgstr ""', 1))
    print(f"catalogs in {CATALOGS.relative_to(topology.ROOT)}: translate each empty msgstr "
          "and each entry marked fuzzy, then remove its fuzzy mark")


def catalog(doc: str) -> Catalog | None:
    """The Korean catalog of one document, or None where it has none."""
    path = CATALOGS / f"{doc}.po"
    if not path.exists():
        return None
    with path.open("rb") as f:
        return read_po(f)


def _claim_bolds(text: str, claim: str) -> list[tuple[str, str]]:
    """The bold spans of a paragraph that name a claim id, each with the text after it."""
    pattern = r"\*\*([^*]*?(?<![A-Za-z0-9])" + claim + r"(?!\d)[^*]*)\*\*([^*]*)"
    return re.findall(pattern, text)


def korean_verdicts(doc: str) -> dict[tuple[str, str], str]:
    """(claim, English verdict) -> the Korean verdict, from the chapter's translated paragraphs."""
    from . import site
    found: dict[tuple[str, str], str] = {}
    for m in catalog(doc) or []:
        if not m.id or not m.string or m.fuzzy:
            continue
        for claim in dict.fromkeys(re.findall(r"Claim ([A-Z]\d+)", m.id)):
            english = [(b, a) for b, a in site._VERDICT.findall(m.id) if claim in re.findall(
                r"Claim ([A-Z]\d+)", b)]
            for (bold, after), (kbold, kafter) in zip(english, _claim_bolds(m.string, claim)):
                found[(claim, site.verdict_text(bold, after))] = site.verdict_text(kbold, kafter)
    return found


ROLE = re.compile(r"\{([\w:-]+)\}`([^`]*)`")
LINK = re.compile(r"\]\(([^)\s]+)\)")


def _targets(text: str) -> list[tuple[str, str]]:
    """The roles of a paragraph, each as (role, target): the part in <...>, else the whole text."""
    found = []
    for role, body in ROLE.findall(text):
        inner = re.search(r"<([^<>]+)>\s*$", body)
        found.append((role, (inner.group(1) if inner else body).strip()))
    return sorted(found)


def problems(msgid: str, msgstr: str) -> list[str]:
    """What a translation breaks of its paragraph's markup: roles, link targets, code, bold, verdicts."""
    found = []
    if msgstr.count("`") % 2:
        found.append("an odd number of backquotes (a role or `code` left open)")
    if msgstr.count("**") % 2:
        found.append("an odd number of ** (bold left open)")
    if _targets(msgid) != _targets(msgstr):
        found.append(f"roles {_targets(msgstr)} instead of {_targets(msgid)} (keep each "
                     "{role}`...` and its target as the English has them)")
    if sorted(LINK.findall(msgid)) != sorted(LINK.findall(msgstr)):
        found.append(f"link targets {sorted(LINK.findall(msgstr))} instead of "
                     f"{sorted(LINK.findall(msgid))}")
    from . import site
    for bold, _after in site._VERDICT.findall(msgid):
        for claim in re.findall(r"Claim ([A-Z]\d+)", bold):
            kept = _claim_bolds(msgstr, claim)
            if not kept or ("—" in bold) != any("—" in b for b, _ in kept):
                found.append(f"the verdict on {claim} needs its id in bold"
                             + (" with the verdict after an em dash (**... — ...**)" if "—" in bold
                                else ""))
    return found


def check_catalogs(catalogs: Path = CATALOGS) -> list[str]:
    """Every markup problem of the translated entries, as 'file:line: msgid...: problem'."""
    found = []
    for po in sorted(catalogs.rglob("*.po")):
        with po.open("rb") as f:
            for m in read_po(f):
                if m.id and m.string and not m.fuzzy:
                    found += [f"{po.relative_to(topology.ROOT) if po.is_relative_to(topology.ROOT) else po}:"
                              f"{m.lineno}: {m.id[:50]!r}: {p}" for p in problems(m.id, m.string)]
    return found


def korean_rows(rows: list[dict]) -> list[dict]:
    """The ledger's rows with each verdict in Korean where its chapter's catalog translates it."""
    ko = {doc: korean_verdicts(doc) for doc in {r["doc"] for r in rows}}
    return [{**r, "verdict": ko[r["doc"]].get((r["claim"], r["verdict"]), r["verdict"])}
            for r in rows]


def write_generated(stage: Path, rows: list[dict], versions: dict[str, str]) -> None:
    """The Korean ledger and measured page beside the English ones (ledger.md.ko, ...)."""
    from . import measured, site
    pages = {"ledger": site.ledger(korean_rows(rows), versions, KO),
             "measured": measured.page(topology.ROOT / "_build", versions, KO)}
    for doc, text in pages.items():
        (stage / f"{doc}.md.{LANGUAGE}").write_text(text)


def html_command(stage: Path, out: Path, language: str) -> list[str]:
    """sphinx-build of the stage's conf.py into out/html-<language>: warnings are errors."""
    return [_bin("sphinx-build"), "-b", "html", "-W", "--keep-going", "-n", "-q",
            "-D", f"language={language}", "-d", str(out / f"doctrees-{language}"),
            str(stage), str(out / f"html-{language}")]


def build(stage: Path, out: Path) -> dict[str, Path]:
    """The English and the Korean site from one stage, built side by side; raise on a warning."""
    sphinx_conf(stage)
    out.mkdir(parents=True, exist_ok=True)
    runs = {}
    for language in ("en", LANGUAGE):
        log = (out / f"build-{language}.log").open("w")
        runs[language] = (subprocess.Popen(html_command(stage, out, language), stdout=log,
                                           stderr=subprocess.STDOUT), log)
    failed = []
    for language, (proc, log) in runs.items():
        proc.wait()
        log.close()
        text = Path(log.name).read_text().strip()
        if text:
            print("\n".join(f"[{language}] {line}" for line in text.splitlines()), flush=True)
        if proc.returncode:
            failed.append(language)
    if failed:
        raise SystemExit(f"the site build failed for {', '.join(failed)} (see the lines above; "
                         f"a translation's error names its document and {CATALOGS.name}/<document>.po)")
    return {language: out / f"html-{language}" for language in runs}


def switch(app, pagename: str, templatename: str, context: dict, doctree) -> None:
    """A link at the top of the article to the same page in the other language (relative)."""
    if "body" not in context or doctree is None:
        return
    up = "../" * pagename.count("/")
    if app.config.language == LANGUAGE:
        href, lang, label = f"../{up}{pagename}.html", "en", "English"
    else:
        href, lang, label = f"{up}{LANGUAGE}/{pagename}.html", LANGUAGE, "한국어"
    context["body"] = (f'<p class="kl-language"><a href="{href}" hreflang="{lang}" lang="{lang}">'
                       f"{label}</a></p>\n" + context["body"])


def korean_config(app, config) -> None:
    """In the Korean build: the book's title, search text, code cells' toggles and footer in Korean."""
    if config.language != LANGUAGE:
        return
    config.html_title = KO["Kafka Internals, Measured"]
    config.nb_code_prompt_show = KO["Show code cell {type}"]
    config.nb_code_prompt_hide = KO["Hide code cell {type}"]
    options = config.html_theme_options
    options["search_bar_text"] = KO["Search this book..."]
    found = re.fullmatch(r"<p>Measured with (.*); built (\S+)\.</p>", options.get("extra_footer", ""))
    if found:
        options["extra_footer"] = "<p>" + KO["Measured with {}; built {}."].format(*found.groups()) + "</p>"


def korean_page(app, docname: str, source: list[str]) -> None:
    """In the Korean build, a generated page's Korean text (written by write_generated)."""
    page = Path(app.srcdir) / f"{docname}.md.{LANGUAGE}"
    if app.config.language == LANGUAGE and docname in GENERATED and page.exists():
        source[0] = page.read_text()


class TocCaptions(SphinxTransform):
    """The toc's captions in the document's language."""

    # sphinx-external-toc inserts the toctrees (priority 100) after Sphinx translates (20)
    default_priority = 110

    def apply(self, **kwargs) -> None:
        """Translate each toctree caption from the document's catalog."""
        if self.config.language in (None, "en"):
            return
        domain = docname_to_domain(self.env.docname, self.config.gettext_compact)
        dirs = [str(Path(self.env.srcdir, d)) for d in self.config.locale_dirs]
        translator, found = sphinx.locale.init(dirs, self.config.language, domain)
        for node in self.document.findall(addnodes.toctree):
            if found and node.get("caption"):
                node["caption"] = translator.gettext(node["caption"])


def keep_anchors(app, doctree) -> None:
    """MyST's heading anchors of the English headings, which the ledger links to."""
    # Sphinx parses each translated heading as a document of its own, whose anchors MyST then
    # records as the page's.
    slugs = getattr(doctree, "myst_slugs", None)
    if slugs and app.config.language not in (None, "en"):
        app.env.metadata[app.env.docname]["myst_slugs"] = slugs


def korean_style(app) -> None:
    """In the Korean build, the stylesheet for Korean lines (kafkalab/book/static/korean.css)."""
    if app.config.language == LANGUAGE:
        app.add_css_file("korean.css")


def check_markup(app) -> None:
    """In a translated build, a warning (an error under -W) for each translation that breaks markup."""
    if app.config.language in (None, "en"):
        return
    for d in app.config.locale_dirs:
        for problem in check_catalogs(Path(app.srcdir, d, app.config.language, "LC_MESSAGES")):
            logger.warning("translation: %s", problem)


def setup(app) -> dict:
    """Sphinx extension of the staged builds: the language switch, the Korean generated pages."""
    app.add_transform(TocCaptions)
    app.connect("config-inited", korean_config, priority=100)  # before myst-nb reads its settings
    app.connect("builder-inited", check_markup)
    app.connect("builder-inited", korean_style)
    app.connect("doctree-read", keep_anchors)
    app.connect("source-read", korean_page)
    app.connect("html-page-context", switch)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
