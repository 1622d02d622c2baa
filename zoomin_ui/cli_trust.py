"""`zoomin trust ...`: the C2PA trust lists that decide whether a Content
Credentials signer is "trusted".

The official lists ship with the tool; `trust update FILE` installs a newer
one an analyst downloaded (there is no network fetch).  Roots given with
--trust-anchors or ZOOMIN_C2PA_TRUST_ANCHORS are added to these lists.
"""

from __future__ import annotations

import click

from zoomin_ui.terminal import echo


@click.group("trust")
def trust() -> None:
    """C2PA trust lists: show the lists in use, or install a newer downloaded one."""


@trust.command("show")
def show_lists() -> None:
    """The trust lists in use: issue date, certificate count and whether they are past their NextUpdate."""
    from models.evidence.trust_list import PUBLISHED_AT, active_lists, installed_folder

    lists = active_lists()
    if not lists:
        raise click.ClickException("no C2PA trust list could be loaded; reinstall the package or run "
                                   "`zoomin trust update FILE.json`")
    for kind, found in lists.items():
        info = found.describe()
        where = "shipped with the tool" if found.shipped else f"installed in {found.path.parent}"
        status = (f"PAST its next update ({info['next_update']}): install a newer list" if info["expired"]
                  else f"next update due {info['next_update'] or 'not stated'}")
        label = "claim signers" if kind == "signers" else "time-stamp authorities"
        echo(f"{label}: issued {info['issued']}, {info['certificates']} certificates from "
             f"{info['organisations']} organisations, {where}; {status}", keep_newlines=False)
    echo(f"newer lists are published at {PUBLISHED_AT}; install one with `zoomin trust update FILE.json` "
         f"(into {installed_folder()})", keep_newlines=False)


@trust.command("update")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def update_lists(files: tuple[str, ...]) -> None:
    """Install downloaded C2PA trust lists (C2PA-TRUST-LIST.json, C2PA-TSA-TRUST-LIST.json) after checking them."""
    from models.evidence.trust_list import TrustListError, install_trust_list

    failed = 0
    for name in files:
        try:
            found = install_trust_list(name)
        except TrustListError as exc:
            failed += 1
            echo(f"not installed: {exc}", err=True, keep_newlines=False)
            continue
        info = found.describe()
        expired = "; it is already PAST its next update" if info["expired"] else ""
        echo(f"{name}: {found.kind} list issued {info['issued']}, {info['certificates']} certificates: "
             f"installed and now in use{expired}", keep_newlines=False)
    if failed:
        raise SystemExit(1)
