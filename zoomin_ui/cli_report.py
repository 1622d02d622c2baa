"""`zoomin report CASE_ID -o file.pdf`: a case's PDF forensic report from the command line."""

from __future__ import annotations

import click

from zoomin_ui import service
from zoomin_ui.cli_cases import analyst_option, opened_store, resolve_analyst
from zoomin_ui.terminal import echo


@click.command("report")
@click.argument("case_id", type=int)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The PDF to write.")
@click.option("--analysis", "analysis_id", type=int, default=None, metavar="ID",
              help="Report this analysis for its file (default: the latest finished analysis of each file).")
@analyst_option
def report(case_id: int, output: str, analysis_id: int | None, analyst: str | None) -> None:
    """Write the PDF forensic report of a case (ids: `zoomin cases list`) and record its SHA-256."""
    from zoomin_ui.reports import export_report

    with opened_store() as store:
        try:
            written = export_report(store, case_id, output, resolve_analyst(analyst), analysis_id=analysis_id)
        except service.WorkbenchError as exc:
            raise click.ClickException(str(exc)) from None
    echo(f"report of case {case_id} written to {written.path} ({written.pages} pages, "
         f"{written.size_bytes:,} bytes); SHA-256 {written.sha256}", keep_newlines=False)
