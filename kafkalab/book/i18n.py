"""The Korean edition: catalogs of the book's prose, the Korean build, the language switch.

Sphinx's gettext builder extracts every paragraph, heading and table cell of the book's sources
(notebook markdown cells included) into one catalog per document; sphinx-intl keeps them as
locales/ko/LC_MESSAGES/<document>.po, where translators write each msgstr. The Korean site is
the same stage as the English one, built with `language=ko`. The ledger and the measured page
hold numbers of the run, so they never go through gettext: the Korean stage gets its own copy
of each, written here, its fixed words from KO and each verdict from its chapter's catalog.
"""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from ..lab import topology

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
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    for nb in site.notebooks():
        target = dest / nb.relative_to(topology.ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(nb, target)
    for page in site.PAGES:
        shutil.copy(topology.ROOT / page, dest / page)
    for doc, title in GENERATED.items():  # linked from the pages; their text is not extracted
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
    subprocess.run([_bin("sphinx-build"), "-b", "gettext", "-q", "-j", "2", str(stage), str(pot),
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


def setup(app) -> dict:
    """Sphinx extension of the staged builds: the language switch, the Korean generated pages."""
    return {"parallel_read_safe": True, "parallel_write_safe": True}
