"""`zoomin cases ...` and `zoomin verify`: the case store from the command line.

Every command reads ZOOMIN_HOME (the data folder) and DATABASE_URL (another
database); mutating ones sign their changes with --analyst, ZOOMIN_ANALYST
or the OS user name.  A failure is one line on stderr and a non-zero exit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from models.safe_text import safe_text, strict_dumps
from zoomin_ui import service
from zoomin_ui.terminal import SAFE_TEXT, echo, terminal_safe

if TYPE_CHECKING:
    from storage import AnalysisRecord, CaseDetail, CaseStore

analyst_option = click.option("--analyst", default=None, metavar="NAME", type=SAFE_TEXT,
                              help="Who does this (default: ZOOMIN_ANALYST or the OS user name).")


def resolve_analyst(analyst: str | None) -> str:
    from storage import default_analyst

    return safe_text((analyst or "").strip() or default_analyst())  # ZOOMIN_ANALYST is text from outside too


@contextmanager
def opened_store() -> Iterator[CaseStore]:
    """The store for one command; its errors become one line, never a traceback."""
    from storage import StoreError

    try:
        store = service.open_store()
    except service.WorkbenchError as exc:
        raise click.ClickException(str(exc)) from None
    try:
        yield store
    except StoreError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        store.close()


@click.group("cases")
def cases() -> None:
    """Saved cases: list, show, export to a bundle, import a bundle."""


@cases.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON array of cases (id, title, verdict, files, ...).")
@click.option("--query", "-q", default="", type=SAFE_TEXT,
              help="Title or file name (substring), SHA-256 prefix, or case id.")
@click.option("--verdict", type=click.Choice(["ai-generated", "real", "inconclusive"]), default=None)
@click.option("--analyst", default=None, type=SAFE_TEXT, help="Cases this analyst changed.")
@click.option("--page", type=click.IntRange(1), default=1, show_default=True)
@click.option("--page-size", type=click.IntRange(1, 500), default=50, show_default=True)
def list_cases(as_json: bool, query: str, verdict: str | None, analyst: str | None, page: int,
               page_size: int) -> None:
    """List cases, newest first."""
    from storage import to_json

    with opened_store() as store:
        found = store.list_cases(query=query, verdict=verdict, analyst=analyst, page=page, page_size=page_size)
    if as_json:
        click.echo(strict_dumps([to_json(case) for case in found.cases]))
        return
    if not found.cases:
        click.echo("no cases found", err=True)
        return
    click.echo(f"{'ID':>6}  {'UPDATED (UTC)':16}  {'VERDICT':13}  TITLE  [FILES]")
    for case in found.cases:
        files = ", ".join(case.files)
        echo(f"{case.id:>6}  {case.updated_at:%Y-%m-%d %H:%M}  {case.verdict or '-':13}  {case.title}"
             + (f"  [{files}]" if files else ""), keep_newlines=False)
    first = (found.page - 1) * found.page_size + 1
    click.echo(f"cases {first}-{first + len(found.cases) - 1} of {found.total}", err=True)


@cases.command("show")
@click.argument("case_id", type=int)
@click.option("--json", "as_json", is_flag=True, help="The whole case record as one JSON object.")
def show_case(case_id: int, as_json: bool) -> None:
    """Show a case: files, analyses and regions (every version), reports, history."""
    from storage import to_json

    with opened_store() as store:
        detail = store.get_case(case_id)
    click.echo(strict_dumps(to_json(detail), indent=1) if as_json else render_case(detail))


@cases.command("export")
@click.argument("case_id", type=int)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The bundle to write (.zip).")
@analyst_option
def export_case(case_id: int, output: str, analyst: str | None) -> None:
    """Write a case (records, evidence files, reports, manifest of hashes) to one zip."""
    with opened_store() as store:
        written = store.export_bundle(case_id, output, resolve_analyst(analyst))
        key = store.keys.public_key()
    from storage.keys import spaced

    echo(f"case {case_id} exported to {written.path} ({len(written.files)} files; "
         f"manifest SHA-256 {written.manifest_sha256})", keep_newlines=False)
    echo(f"signed with this installation's key {spaced(key.fingerprint)}", keep_newlines=False)


@cases.command("import")
@click.argument("bundle", type=click.Path(dir_okay=False))
@analyst_option
@click.option("--accept-unverified", is_flag=True,
              help="Import a bundle that is unsigned or signed by a key not trusted here (the case record "
                   "says so). Without it such a bundle is refused.")
def import_case(bundle: str, analyst: str | None, accept_unverified: bool) -> None:
    """Import a case bundle, every hash, record and the signature checked; on any problem nothing
    is imported."""
    with opened_store() as store:
        signer = store.bundle_signer(bundle)
        case = store.import_bundle(bundle, resolve_analyst(analyst), accept_unverified=accept_unverified)
    echo(f"imported as case {case.id}: {case.title}", keep_newlines=False)
    echo(f"{'WARNING: ' if signer.status in ('unsigned', 'unknown') else ''}{signer.describe()}",
         keep_newlines=False)


@click.command("verify")
@click.option("--json", "as_json", is_flag=True, help="The differences as a JSON array.")
@click.option("--clean", is_flag=True,
              help="After the report, remove orphan stored files and stale temporary files (nothing else).")
def verify(as_json: bool, clean: bool) -> None:
    """Re-hash every stored file, check every case's hash chain, find leftovers of killed processes."""
    from storage import to_json

    with opened_store() as store:
        problems = store.verify()
        where = store.database
        removed = store.clean_leftovers(problems) if clean else []
    if as_json:
        click.echo(strict_dumps([to_json(p) for p in problems]))
    elif problems:
        for problem in problems:
            echo(f"{problem.kind}: {problem.message}", keep_newlines=False)
    else:
        echo(f"every stored evidence file and report matches {where}, and every case's record is intact",
             keep_newlines=False)
    for path in removed:
        echo(f"removed {path}", err=True, keep_newlines=False)
    problems = [p for p in problems if str(p.path) not in removed or p.kind not in ("orphan", "stale-temp")]
    if problems:
        raise SystemExit(1)


def render_case(detail: CaseDetail) -> str:
    case = detail.summary
    lines = [f"Case {case.id}: {case.title}",
             (f"  status {case.status}; created {case.created_at:%Y-%m-%d %H:%M} UTC by {case.created_by}; "
              f"updated {case.updated_at:%Y-%m-%d %H:%M} UTC")]
    if case.final_verdict:
        note = f" ({detail.final_note})" if detail.final_note else ""
        lines.append(f"  final verdict: {case.final_verdict}{note}")
    if case.model_verdict:
        lines.append(f"  latest model verdict: {case.model_verdict}")
    if detail.notes:
        lines.append(f"  notes: {detail.notes}")
    lines.append("Evidence files:")
    for item in detail.evidence_files:
        lines.append(f"  [{item.id}] {item.original_name}  {item.format} {item.width}x{item.height}, "
                     f"{item.size_bytes} bytes, sha256 {item.sha256}; taken in {item.intake_at:%Y-%m-%d %H:%M} "
                     f"UTC by {item.intake_by}")
    lines.append("Analyses:")
    for analysis in detail.analyses:
        lines += _render_analysis(analysis)
    if detail.reports:
        lines.append("Reports:")
        for report in detail.reports:
            lines.append(f"  [{report.id}] {report.file_name}  sha256 {report.sha256}; "
                         f"{report.created_at:%Y-%m-%d %H:%M} UTC by {report.created_by}")
    lines.append("History:")
    for event in detail.history:
        lines.append(f"  {event.at:%Y-%m-%d %H:%M:%S} UTC  {event.actor}: {event.action} {event.subject}")
    # Each line is one line on screen: a newline or escape in a title or note is shown escaped.
    return "\n".join(terminal_safe(line, keep_newlines=False) for line in lines)


def _render_analysis(analysis: AnalysisRecord) -> list[str]:
    backend = analysis.backend
    head = (f"  [{analysis.id}] {analysis.status}  {backend.backend} {backend.backend_version}"
            + (f" model {backend.model_id}@{backend.model_revision}" if backend.model_id else "")
            + f"; file {analysis.evidence_file_id}; started {analysis.started_at:%Y-%m-%d %H:%M} UTC "
              f"by {analysis.started_by}")
    lines = [head]
    if analysis.verdict is not None:
        if analysis.reading is not None:  # the same headline as the page and the report
            lines.append(f"      {analysis.reading.headline}")
        lines.append(f"      measured: verdict {analysis.verdict}, ranking score {analysis.score:.2f}: "
                     f"{analysis.explanation}")
    if analysis.error:
        lines.append(f"      {analysis.error}")
    for region in analysis.regions:
        box = ", ".join(f"{v:g}" for v in region.box.to_list())
        origin = f" (edit of {region.parent_region_id})" if region.parent_region_id else ""
        latest = "" if region.current else " [superseded]"
        lines.append(f"      region {region.id}{origin} {region.source}/{region.status}{latest} [{box}] "
                     f"score {region.score:.2f} {region.label}")
        for question in region.questions:
            lines.append(f"        Q ({question.asked_by}): {question.question}  A: {question.answer}")
    return lines


def open_save_store(case_id: int | None) -> CaseStore:
    """The store `zoomin analyze --save` records into, checked before any analysis runs."""
    from storage import StoreError

    try:
        store = service.open_store()
    except service.WorkbenchError as exc:
        raise click.ClickException(str(exc)) from None
    if case_id is not None:
        try:
            store.get_case(case_id)
        except StoreError as exc:
            store.close()
            raise click.ClickException(f"--case {case_id}: {exc}") from None
    return store
