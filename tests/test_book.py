"""The claims ledger is read from executed notebooks: verdict words, assert status, evidence."""
from __future__ import annotations

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from kafkalab.book import site as book


def _executed(tmp_path, verdict_md: str, outputs: list) -> str:
    nb = new_notebook(cells=[new_markdown_cell(verdict_md), new_code_cell("assert x", outputs=outputs,
                                                                          execution_count=1)])
    path = tmp_path / "chapter.ipynb"
    nbformat.write(nb, path)
    return path


def test_held_verdicts_carry_word_and_last_printed_line(tmp_path):
    """Two claims in one bold span share the verdict cell; the evidence is its last stdout line."""
    path = _executed(tmp_path, "**Verdict on Claim B6 and Claim A6 — true.** More text.",
                     [new_output("stream", name="stdout", text="first\nduplicates: 0 vs 5\n")])
    rows = book.verdicts(path, "chapters/x")
    assert [(r["claim"], r["verdict"], r["status"]) for r in rows] == [
        ("B6", "true", "held"), ("A6", "true", "held")]
    assert rows[0]["evidence"] == "duplicates: 0 vs 5"


def test_a_failed_assert_is_marked_failed_in_the_ledger(tmp_path):
    """A verdict cell that raised shows as FAILED, so the site build refuses it."""
    path = _executed(tmp_path, "**Claim C2 — true.**",
                     [new_output("error", ename="AssertionError", evalue="(1, 2)", traceback=[])])
    rows = book.verdicts(path, "chapters/x")
    assert rows[0]["status"] == "failed"
    assert "✗ FAILED" in book.ledger(rows, {"Apache Kafka": "4.4.0"})


def test_the_ledger_names_the_clients_each_section_ran(tmp_path):
    """A section that runs a Java client beside librdkafka is marked as measuring both."""
    out = [new_output("stream", name="stdout", text="held\n")]
    nb = new_notebook(cells=[
        new_markdown_cell("## Claim A1"), new_code_cell("run = acks.trial(lab)", execution_count=1),
        new_markdown_cell("**Verdict on Claim A1 — true**"), new_code_cell("assert run", outputs=out,
                                                                         execution_count=2),
        new_markdown_cell("## Claim B2"),
        new_code_cell("java = java_clients.produce(lab, t, {}, 10)", execution_count=3),
        new_markdown_cell("**Verdict on Claim B2 — true**"), new_code_cell("assert java", outputs=out,
                                                                         execution_count=4)])
    path = tmp_path / "chapter.ipynb"
    nbformat.write(nb, path)
    rows = book.verdicts(path, "chapters/x")
    assert [(r["claim"], r["clients"]) for r in rows] == [("A1", "librdkafka"), ("B2", "Java, librdkafka")]
    page = book.ledger(rows, {})
    assert "| true (Java and librdkafka) |" in page and "| true |" in page


def test_a_verdict_skipped_on_an_external_cluster_is_marked_skipped(tmp_path):
    """A verdict cell that printed only the skip note is 'skipped', not held, in the ledger."""
    path = _executed(tmp_path, "**Claim F6 — true.**", [new_output(
        "stream", name="stdout", text="Skipped: this cell needs `run`, from a skipped cell above\n")])
    rows = book.verdicts(path, "chapters/x")
    assert rows[0]["status"] == "skipped"
    assert "skipped (needs the lab)" in book.ledger(rows, {"Apache Kafka": "4.4.0"})


def test_saved_outputs_drop_widget_views_and_number_cells(tmp_path, monkeypatch):
    """Executed copies keep printed output and a panel's HTML, drop widget views (a bare
    widget entirely), and count executions."""
    src = tmp_path / "nb.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("1"), new_markdown_cell("m"),
                                       new_code_cell("panel")]), src)
    monkeypatch.setattr(book.topology, "ROOT", tmp_path)  # write the copy inside tmp_path
    monkeypatch.setattr(book, "EXECUTED", tmp_path / "executed")
    copy = book.save_executed(src, {
        0: [new_output("stream", name="stdout", text="hi\n")],
        1: [new_output("display_data", data={book.WIDGET: {"model_id": "x"}, "text/plain": "w"}),
            new_output("display_data", data={book.WIDGET: {"model_id": "y"},
                                              "text/html": "<div>controls</div>"}),
            new_output("stream", name="stdout", text="preview\n")]})
    nb = nbformat.read(copy, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == [1, 2]
    assert [dict(o.get("data", {})) or o.get("text") for o in code[1].outputs] == [
        {"text/html": "<div>controls</div>"}, "preview\n"]
    assert nb.metadata[book.KEY]


def test_a_copy_with_an_error_is_run_again(tmp_path, monkeypatch):
    """An executed copy whose run failed is not up to date, so `make book` executes it again."""
    src = tmp_path / "nb.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("1")]), src)
    monkeypatch.setattr(book.topology, "ROOT", tmp_path)
    monkeypatch.setattr(book, "EXECUTED", tmp_path / "executed")
    book.save_executed(src, {0: [new_output("stream", name="stdout", text="ok\n")]})
    assert book.up_to_date(src)
    book.save_executed(src, {0: [new_output("error", ename="E", evalue="x", traceback=[])]})
    assert not book.up_to_date(src)


def test_cited_sources_are_at_the_pinned_releases():
    """The pages' {kafka} and {rdkafka} links point at the Kafka and librdkafka the lab runs."""
    import re
    from pathlib import Path

    import confluent_kafka
    import yaml

    root = Path(__file__).resolve().parents[1]
    links = yaml.safe_load((root / "_config.yml").read_text())["sphinx"]["config"]["extlinks"]
    kafka = re.search(r"<kafka.version>([^<]+)<", (root / "kafka" / "pom.xml").read_text())[1]
    assert links["kafka"][0] == f"https://github.com/apache/kafka/blob/{kafka}/%s"
    rdkafka = confluent_kafka.libversion()[0]
    assert links["rdkafka"][0] == f"https://github.com/confluentinc/librdkafka/blob/v{rdkafka}/%s"


def test_a_verdict_lists_the_sources_its_section_cites(tmp_path):
    """Sources cited in a claim's section reach its ledger row, once each; other sections' do not."""
    cite = "{kafka}`Partition.scala <core/src/main/scala/kafka/cluster/Partition.scala>`"
    nb = new_notebook(cells=[
        new_markdown_cell("## Claim F4\n\nThe rule (" + cite + ", {jira}`KAFKA-15583`), as " + cite
                          + " has it."),
        new_markdown_cell("**Verdict on Claim F4 — true.** Again " + cite + "."),
        new_code_cell("assert x", execution_count=1),
        new_markdown_cell("## Claim F5\n\n**Verdict on Claim F5 — true.**"),
        new_code_cell("assert y", execution_count=2)])
    path = tmp_path / "chapter.ipynb"
    nbformat.write(nb, path)
    rows = {r["claim"]: r for r in book.verdicts(path, "chapters/x")}
    assert rows["F4"]["sources"] == [cite, "{jira}`KAFKA-15583`"]
    assert rows["F5"]["sources"] == []
    page = book.ledger(list(rows.values()), {"Apache Kafka": "4.4.0"})
    assert "- **F4** ({doc}`/chapters/x`): " + cite + ", {jira}`KAFKA-15583`" in page
    assert "- **F5** ({doc}`/chapters/x`): –" in page


def test_the_measured_page_is_made_from_the_recorded_run(tmp_path):
    """The lab's start line, each node's memory and the seconds per file come from _build's files."""
    import json

    from kafkalab.book import measured

    (tmp_path / measured.UP).write_text(
        "lab ready in 7.2 s; bootstrap 127.0.0.1:19091\n"
        " id  role        port       pid  state        rss\n"
        "  0  controller 19090      4242  up       201 MiB\n"
        "  1  broker     19091      4243  up       350 MiB\n")
    (tmp_path / measured.RAW).write_text(json.dumps({
        "chapters/01-acks.ipynb": [[12.5, "Cell 3", "0"], [0.5, "Cell 4", "0"]],
        "tests/test_lab.py": [[2.0, "test_up", "0"]]}))
    page = measured.page(tmp_path, {"Apache Kafka": "4.4.0"})
    assert "*lab ready in 7.2 s*" in page
    assert "| 1 | broker | 19091 | up | 350 MiB |" in page
    assert "| chapters/01-acks.ipynb | 13.0 |" in page and "| all | 15.0 |" in page
    assert "| 12.5 | chapters/01-acks.ipynb | Cell 3 |" in page
    assert "without a recorded test run" in measured.page(tmp_path / "none", {})


def test_a_panel_draws_its_controls_for_the_site(monkeypatch, capsys):
    """One output carries the live widget (JupyterLab) and the controls as disabled HTML (the
    site): each name, range and start value, the Run button and where the panel runs; the text
    view lists the same; nothing runs until Run is pressed."""
    import IPython.display

    from kafkalab.book import widgets

    shown, runs = [], []
    monkeypatch.setattr(IPython.display, "display", lambda obj, raw=False: shown.append(obj))

    def try_it(trials=3, pause_s=1.0, how="killed", all_three=False, message_timeout_ms=3000):
        runs.append(trials)

    widgets.panel(try_it, trials=(1, 20, 1), pause_s=(0.1, 2.4, 0.1),
                  how=["cut off", "killed"], all_three=False, message_timeout_ms=(500, 60_000, 500))
    assert runs == [] and capsys.readouterr().out == ""
    (bundle,) = shown
    assert bundle[widgets.WIDGET]["model_id"]
    page = bundle["text/html"]
    assert "make lab" in page and "<button type='button' disabled>Run</button>" in page
    assert "<label>trials <input type='range' disabled min='1' max='20' step='1' value='3'>" in page
    assert "<b>3,000</b> <span class='kl-range'>500 to 60,000</span>" in page
    assert "<option selected>killed</option>" in page and "one of cut off, killed" in page
    assert "<label>all_three <input type='checkbox' disabled></label> <b>off</b>" in page
    assert page.count("<div class='kl-control'>") == 5 and "disabled" in page
    text = bundle["text/plain"]
    assert "trials                   1 to 20 (starts at 3)" in text
    assert "how                      cut off | killed (starts at killed)" in text
    no_default = widgets.describe(lambda records: None, {"records": (1, 1000, 1)})
    assert "records                  1 to 1,000 (starts at 500)" in no_default  # ipywidgets' midpoint


def test_every_verdict_cites_the_sources_of_its_mechanism():
    """Each claim's section cites at least one source (a file at the pinned release, a KIP or a
    JIRA issue): the ledger shows it beside the verdict."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    missing = [f"{nb.stem}: Claim {r['claim']}" for nb in sorted((root / "chapters").glob("*.ipynb"))
               for r in book.verdicts(nb, nb.stem) if not r["sources"]]
    assert not missing, f"verdicts whose section cites no source: {missing}"


# The module folder of apache/kafka that each jar of the lab is built from.
MODULES = {"kafka_2.13": "core", "kafka-clients": "clients", "kafka-server": "server",
           "kafka-storage": "storage", "kafka-storage-api": "storage/api", "kafka-metadata": "metadata",
           "kafka-raft": "raft", "kafka-server-common": "server-common",
           "kafka-group-coordinator": "group-coordinator",
           "kafka-group-coordinator-api": "group-coordinator/group-coordinator-api",
           "kafka-transaction-coordinator": "transaction-coordinator",
           "kafka-coordinator-common": "coordinator-common", "kafka-tools": "tools",
           "kafka-tools-api": "tools/tools-api", "kafka-share-coordinator": "share-coordinator"}


def test_cited_kafka_files_are_classes_of_the_jars_the_lab_runs():
    """Every {kafka} citation names a source file whose class is in the pinned jars, in the
    module folder that jar is built from (a file moved or renamed since is caught here)."""
    import re
    import zipfile
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    jars = sorted((root / "kafka" / "libs").glob("kafka*.jar"))
    if not jars:
        pytest.skip("no Kafka jars: `make jars` fetches them")
    where: dict[str, set[str]] = {}
    for jar in jars:
        module = MODULES.get(re.sub(r"-\d[\w.]*\.jar$", "", jar.name), "?")
        for name in zipfile.ZipFile(jar).namelist():
            if name.endswith(".class") and "$" not in name:
                where.setdefault(name.removesuffix(".class"), set()).add(module)
    pages = [*root.glob("chapters/*.ipynb"), *root.glob("exercises/*.ipynb"), root / "glossary.md"]
    cited = {(m[1] or m[2], page.name) for page in pages
             for m in re.finditer(r"\{kafka\}`(?:[^`<]*<([^>]+)>|([^`<]+))`", page.read_text())}
    assert len(cited) > 50
    wrong = []
    for path, page in sorted(cited):
        found = re.fullmatch(r"(.+?)/src/main/(?:java|scala)/(.+)\.(?:java|scala)", path)
        modules = sorted(where.get(found[2], set())) if found else ["not a source file"]
        if not found or found[1] not in modules:
            wrong.append(f"{page}: {path} ({modules})")
    assert not wrong, wrong


def test_each_ledger_row_links_to_the_section_of_its_verdict(tmp_path):
    """A claim's row links to its section's anchor as MyST names it (backticks dropped,
    a repeated heading numbered), not only to the chapter."""
    nb = new_notebook(cells=[
        new_markdown_cell("# Acks\n\n## Claim F6: catching up"),
        new_markdown_cell("## Claim A7: `min.insync.replicas`\n\ntext"),
        new_markdown_cell("**Verdict on Claim A7 — true.**"),
        new_code_cell("assert x", execution_count=1, outputs=[
            new_output("stream", name="stdout", text="with brokers 1 and 3 in the ISR\n")]),
        new_markdown_cell("## Claim F6: catching up\n\n**Claim F6 — true.**"),
        new_code_cell("assert y", execution_count=2, outputs=[])])
    path = tmp_path / "01-acks.ipynb"
    nbformat.write(nb, path)
    rows = book.verdicts(path, "chapters/01-acks")
    assert [(r["claim"], r["anchor"]) for r in rows] == [
        ("A7", "claim-a7-mininsyncreplicas"), ("F6", "claim-f6-catching-up-1")]
    page = book.ledger(rows, {})
    assert "| [A7](chapters/01-acks.ipynb#claim-a7-mininsyncreplicas) |" in page


def test_figure_text_stays_legible_in_the_site_column():
    """Text that the site's column would shrink below 8 pt is raised; a figure that fits keeps
    its sizes, and a figure twice the column's width gets twice the size."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from kafkalab.book import plots

    fig, ax = plt.subplots(figsize=(plots.COLUMN_IN, 3))
    small = ax.text(0, 0, "note", fontsize=7)
    kept = ax.set_title("title", fontsize=10)
    assert plots.legible(fig) and small.get_fontsize() == plots.SMALLEST_PT
    assert kept.get_fontsize() == 10
    assert not plots.legible(fig)  # nothing left to raise
    wide, ax = plt.subplots(figsize=(2 * plots.COLUMN_IN, 3))
    label = ax.set_xlabel("seconds", fontsize=10)
    plots.legible(wide)
    assert label.get_fontsize() == 2 * plots.SMALLEST_PT
    plt.close("all")
