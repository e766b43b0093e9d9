"""The Korean edition's catalogs (complete, in step with the English, markup kept) and its
generated pages. No cluster: part of `make check`."""
from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest
from babel.messages.pofile import read_po

from kafkalab.book import i18n, measured
from kafkalab.book import site as book

HANGUL = re.compile(r"[\uac00-\ud7a3]")


def _catalogs() -> dict[str, object]:
    """Each Korean catalog by its document (chapters/01-acks, intro, ...)."""
    found = {}
    for po in sorted(i18n.CATALOGS.rglob("*.po")):
        with po.open("rb") as f:
            found[po.relative_to(i18n.CATALOGS).with_suffix("").as_posix()] = read_po(f)
    return found


def test_every_korean_entry_is_translated():
    """No catalog has an untranslated or a fuzzy entry (msgfmt, where installed, agrees)."""
    left = {}
    for doc, cat in _catalogs().items():
        empty = sum(1 for m in cat if m.id and not m.string)
        fuzzy = sum(1 for m in cat if m.id and m.string and m.fuzzy)
        if empty or fuzzy:
            left[doc] = f"{empty} untranslated, {fuzzy} fuzzy"
    assert _catalogs(), f"no catalogs in {i18n.CATALOGS}: run `{i18n.REFRESH}`"
    if shutil.which("msgfmt"):
        for po in sorted(i18n.CATALOGS.rglob("*.po")):
            stats = subprocess.run(["msgfmt", "--statistics", "-o", "/dev/null", str(po)],
                                   capture_output=True, text=True)
            assert stats.returncode == 0, f"{po}: msgfmt: {stats.stderr}"
            doc = po.relative_to(i18n.CATALOGS).with_suffix("").as_posix()
            assert ("untranslated" in stats.stderr or "fuzzy" in stats.stderr) == (doc in left), (
                f"{po}: msgfmt says {stats.stderr.strip()!r}")
    assert not left, (f"{len(left)} Korean catalogs are not complete (translate each empty msgstr "
                      f"and each entry marked fuzzy in {i18n.CATALOGS.relative_to(book.topology.ROOT)}"
                      "/<document>.po, then remove the mark):\n"
                      + "\n".join(f"  {d}: {n}" for d, n in left.items()))


def test_the_catalogs_are_in_step_with_the_english_sources():
    """Each catalog holds exactly the paragraphs of its English document (obsolete #~ aside)."""
    pot = i18n.extract()  # in _build/gettext, where Sphinx reads again only what changed
    catalogs = _catalogs()
    stale = {}
    for template in sorted(pot.rglob("*.pot")):
        doc = template.relative_to(pot).with_suffix("").as_posix()
        with template.open("rb") as f:
            english = {m.id for m in read_po(f) if m.id}
        kept = {m.id for m in catalogs.get(doc, []) if m.id}
        if doc not in catalogs:
            stale[doc] = "no catalog"
        elif english != kept:
            stale[doc] = (f"paragraphs new or changed in English: {len(english - kept)}, "
                          f"no longer in it: {len(kept - english)}")
    stale.update({doc: "a catalog of no document" for doc in catalogs
                  if not (pot / f"{doc}.pot").exists()})
    assert not stale, ("the Korean catalogs are behind the English sources; refresh them with "
                       f"`{i18n.REFRESH}` (or `make locales`), then translate what it marks:\n"
                       + "\n".join(f"  {d}: {why}" for d, why in stale.items()))


def test_translations_keep_the_markup_of_their_paragraph():
    """Each translated entry keeps its roles, link targets, balanced code and bold, verdict ids."""
    broken = i18n.check_catalogs()
    assert not broken, "translations that break the page's markup:\n" + "\n".join(broken)


VERDICT = "**Verdict on Claim A3 — outdated.** Neither client defaults to `acks=1`."
ROLE = "See {kafka}`Partition.scala <core/src/main/scala/kafka/cluster/Partition.scala>`."


@pytest.mark.parametrize("msgid,msgstr,problem", [
    (ROLE, "{kafka}`Partition.scala <core/src/main/scala/kafka/cluster/Partition.scala>)를 보라.",
     "backquotes"),
    (ROLE, "{kafka}`Partition.scala <core/Partition.scala>`를 보라.", "roles"),
    ("See [the docs](https://kafka.apache.org/documentation/).", "[문서](https://kafka.apache.org/)를 보라.",
     "link targets"),
    (VERDICT, "**주장 A3 판정: 낡은 주장.** 두 클라이언트 모두 `acks=1`이 기본값이 아닙니다.", "em dash"),
    (VERDICT, "주장 A3 판정 — 낡은 주장. 두 클라이언트 모두 `acks=1`이 기본값이 아닙니다.", "in bold"),
    ("Read it **twice**.", "**두 번 읽어라.", "bold"),
])
def test_a_translation_that_breaks_markup_is_named(msgid, msgstr, problem):
    """The markup check refuses a role left open, a changed target or link, a verdict's lost shape."""
    assert any(problem in p for p in i18n.problems(msgid, msgstr)), i18n.problems(msgid, msgstr)
    good = {ROLE: "{kafka}`Partition.scala <core/src/main/scala/kafka/cluster/Partition.scala>`를 보라.",
            VERDICT: "**주장 A3 판정 — 낡은 주장.** 두 클라이언트 모두 `acks=1`이 기본값이 아닙니다."}
    assert i18n.problems(msgid, good.get(msgid, msgid)) == []


def _po(path, entries: dict[str, str]) -> None:
    """A small catalog at path with these translations."""
    from babel.messages.catalog import Catalog
    from babel.messages.pofile import write_po
    cat = Catalog(locale="ko")
    for msgid, msgstr in entries.items():
        cat.add(msgid, msgstr)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:
        write_po(f, cat)


ROWS = [{"claim": "A3", "doc": "chapters/x", "anchor": "claim-a3", "clients": "librdkafka",
         "verdict": "outdated", "status": "held", "evidence": "acks=all", "sources": []},
        {"claim": "J1", "doc": "chapters/x", "anchor": "", "clients": "Java, librdkafka",
         "verdict": "true", "status": "skipped", "evidence": "Skipped: no lab", "sources": []},
        {"claim": "A4", "doc": "chapters/x", "anchor": "", "clients": "librdkafka",
         "verdict": "true", "status": "failed", "evidence": "", "sources": []},
        {"claim": "A5", "doc": "chapters/y", "anchor": "", "clients": "librdkafka",
         "verdict": "true", "status": "not run", "evidence": "", "sources": []}]


def test_the_korean_ledger_takes_each_verdict_from_its_chapters_catalog(tmp_path, monkeypatch):
    """A verdict translated in its chapter's catalog is the ledger's Korean verdict; the rest stay."""
    monkeypatch.setattr(i18n, "CATALOGS", tmp_path)
    _po(tmp_path / "chapters" / "x.po", {
        VERDICT: "**주장 A3 판정 — 낡은 주장.** 두 클라이언트 모두 `acks=1`이 기본값이 아닙니다.",
        "**Verdict on Claim J1:** true, both lost records. Then more.":
            "**주장 J1 판정:** 참, 둘 다 레코드를 잃음. 그리고 더."})
    rows = ROWS[:1] + [{**ROWS[1], "verdict": "true, both lost records"}] + ROWS[2:]
    assert [r["verdict"] for r in i18n.korean_rows(rows)] == [
        "낡은 주장", "참, 둘 다 레코드를 잃음", "true", "true"]


def test_the_generated_pages_read_in_korean(tmp_path):
    """The Korean ledger and measured page have Korean fixed words; each i18n.KO key is in use."""
    (tmp_path / measured.UP).write_text(
        "lab ready in 7.2 s; bootstrap 127.0.0.1:19091\n"
        "  0  controller  19090     4242  up       201 MiB\n"
        "  1  broker     19091      4243  down     350 MiB\n"
        "  2  broker     19092      4244  paused   350 MiB\n")
    (tmp_path / measured.RAW).write_text(json.dumps({"chapters/01-acks.ipynb": [[12.5, "Cell 3", "0"]]}))
    versions = {"Apache Kafka": "4.4.0", "Java (the lab)": "21", "external cluster": "h:1"}
    pages = [(measured.page(tmp_path, versions, words), measured.page(tmp_path / "none", versions, words),
              book.ledger(ROWS, versions, words)) for words in (None, i18n.KO)]
    english, korean = ("\n".join(p) for p in pages)
    config = {"Kafka Internals, Measured", "Search this book...", "Measured with {}; built {}.",
              "Show code cell {type}", "Hide code cell {type}"}
    unused = [k for k in i18n.KO if k not in config and k.split("{}")[0] not in english]
    assert not unused, f"i18n.KO has words the English pages no longer use: {unused}"
    lines = list(zip(english.splitlines(), korean.splitlines()))
    for i, (en, ko) in enumerate(lines):
        below = lines[i + 1][0] if i + 1 < len(lines) else ""
        if en.startswith("#") or (en and en[0] not in "|-") or below.startswith("|---"):
            assert HANGUL.search(ko), f"not in Korean: {ko!r}"
    for word in ("✓ 성립", "✗ 실패", "– 실행 안 됨", "– 건너뜀", "(Java와 librdkafka)", "컨트롤러",
                 "| 중지됨 |", "| 일시 정지 |", "| 실행 중 |", "Java(실습 클러스터) 21"):
        assert word in korean, f"{word!r} not on the Korean pages"
