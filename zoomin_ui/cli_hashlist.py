"""`zoomin hashlist export | import`: PDQ hash lists shared between newsrooms
(format: storage/hash_lists.py and docs/case-store.md)."""

from __future__ import annotations

from pathlib import Path

import click

from zoomin_ui.cli_cases import analyst_option, opened_store, resolve_analyst
from zoomin_ui.terminal import SAFE_TEXT, echo, terminal_safe


@click.group("hashlist")
def hashlist() -> None:
    """Share hashes of decided images with other newsrooms, and import theirs."""


@hashlist.command("export")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The list to write.")
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]), default=None,
              help="Default: from the file name (.json is JSON, anything else CSV).")
@click.option("--with-notes", is_flag=True, help="Add each case's final note (left out unless asked).")
def export_list(output: str, fmt: str | None, with_notes: bool) -> None:
    """PDQ hashes of every concluded case's files, with verdict and date; no images."""
    from storage.hash_lists import write_list

    with opened_store() as store:
        rows = store.memory.export_hash_list(with_notes)
    chosen = fmt or ("json" if output.lower().endswith(".json") else "csv")
    Path(output).write_text(write_list(rows, chosen), encoding="utf-8")
    echo(f"{len(rows)} hash(es) of concluded cases written to {click.format_filename(output)}")


@hashlist.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--source", required=True, type=SAFE_TEXT, help="Whose list this is (shown with every match).")
@analyst_option
def import_list(file: str, source: str, analyst: str | None) -> None:
    """Import another organisation's list; a bad line refuses all of it, by line number."""
    data = Path(file).read_bytes()
    with opened_store() as store:
        count = store.memory.import_hash_list(data, Path(file).name, source, resolve_analyst(analyst))
    echo(terminal_safe(f"{count} hash(es) imported from {source}: their matches are shown as their decision"))
