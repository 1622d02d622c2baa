"""`zoomin keys ...`: this installation's bundle-signing key and the
colleagues' keys it trusts.

A colleague's key is trusted only by its full fingerprint, which they read
out to you over another channel (a call, in person): the key file may have
travelled with the very bundle it is meant to vouch for.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import click

from zoomin_ui.cli_cases import analyst_option, opened_store, resolve_analyst
from zoomin_ui.terminal import SAFE_TEXT, echo


@click.group("keys")
def keys() -> None:
    """Bundle signing: show or export this installation's key; trust, list or untrust colleagues' keys."""


@keys.command("show")
def show_key() -> None:
    """This installation's key fingerprint (read it out to a colleague who imports your bundles)."""
    from storage.keys import spaced

    with opened_store() as store:
        key = store.keys.public_key()
    echo(f"this installation's bundle-signing key (Ed25519): {spaced(key.fingerprint)}", keep_newlines=False)


@keys.command("export")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The key file to write.")
@click.option("--label", default="", type=SAFE_TEXT, help="Who this key belongs to (e.g. 'Alice, news desk').")
@analyst_option
def export_key(output: str, label: str, analyst: str | None) -> None:
    """Write this installation's public key to a file for a colleague to trust."""
    from storage import StoreError
    from storage.keys import spaced

    with opened_store() as store:
        key = store.keys.public_key(label or resolve_analyst(analyst))
        try:
            with open(output, "x", encoding="utf-8") as handle:
                json.dump(key.to_json(), handle, indent=1)
        except FileExistsError:
            raise StoreError(f"{output} already exists; choose another file name", "conflict") from None
        except OSError as exc:
            raise StoreError(f"cannot write {output}: {exc.strerror or exc}", "storage") from None
    echo(f"public key written to {os.path.abspath(output)}", keep_newlines=False)
    echo(f"fingerprint: {spaced(key.fingerprint)}  (read this out to the colleague who trusts it)",
         keep_newlines=False)


@keys.command("trust")
@click.argument("key_file", type=click.Path(dir_okay=False))
@click.option("--fingerprint", default=None, metavar="HEX",
              help="The fingerprint the key's owner read out to you; the key is trusted only if it matches.")
def trust_key(key_file: str, fingerprint: str | None) -> None:
    """Trust a colleague's key (from `zoomin keys export`), checked against its fingerprint."""
    from storage import StoreError
    from storage.keys import read_public_key_file, spaced

    with opened_store() as store:
        key = read_public_key_file(Path(key_file))
        if not fingerprint:
            raise StoreError(f"not trusted yet: the key in {key_file} has the fingerprint {spaced(key.fingerprint)}. "
                             "Ask its owner to read theirs out to you (`zoomin keys show`) by another channel, "
                             "then run this again with --fingerprint", "invalid")
        store.keys.trust(key, fingerprint)
    who = f" ({key.label})" if key.label else ""
    echo(f"trusted {spaced(key.fingerprint)}{who}: bundles it signs now import", keep_newlines=False)


@keys.command("list")
def list_keys() -> None:
    """This installation's key and the keys it trusts."""
    from storage.keys import spaced

    with opened_store() as store:
        own = store.keys.public_key()
        trusted = store.keys.trusted()
    echo(f"own      {spaced(own.fingerprint)}", keep_newlines=False)
    for key in trusted.values():
        echo(f"trusted  {spaced(key.fingerprint)}  {key.label}", keep_newlines=False)
    if not trusted:
        echo("no colleague's key is trusted yet (`zoomin keys trust`)", err=True)


@keys.command("untrust")
@click.argument("fingerprint")
def untrust_key(fingerprint: str) -> None:
    """Stop trusting a key: bundles it signs are refused again."""
    from storage.keys import spaced

    with opened_store() as store:
        removed = store.keys.untrust(fingerprint)
    echo(f"no longer trusted: {spaced(removed.fingerprint)} {removed.label}".rstrip(), keep_newlines=False)
