"""`zoomin users add|remove|passwd|list`: the newsroom server's logins
(zoomin_ui/users.py).  A password is read with a hidden prompt, or from
standard input with --password-stdin (for scripts); never from the command
line, where other users of the machine and the shell history would see it."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from storage.identity import ROLES
from zoomin_ui import users as logins

file_option = click.option("--users", "users_file", type=click.Path(dir_okay=False), default=None,
                           help=f"The users file (default: {logins.USERS_ENV}).")
stdin_option = click.option("--password-stdin", is_flag=True,
                            help="Read the password from the first line of standard input.")


def _file(given: str | None) -> Path:
    path = logins.users_path(given)
    if path is None:
        raise click.UsageError(f"name the users file: --users users.toml or {logins.USERS_ENV}")
    return path


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return click.prompt("Password", hide_input=True, confirmation_prompt="Repeat it", err=True)


@click.group("users")
def users() -> None:
    """Logins for the newsroom server (app.py --users FILE): one per analyst."""


@users.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), default="analyst", show_default=True,
              help="analyst: reads and changes cases; viewer: reads and exports only.")
@file_option
@stdin_option
def add(name: str, role: str, users_file: str | None, password_stdin: bool) -> None:
    """Give NAME a login."""
    path = _file(users_file)
    try:
        logins.add_user(path, name, _password(password_stdin), role)
    except logins.UsersError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{name} can sign in as {role} ({path})", err=True)


@users.command("remove")
@click.argument("name")
@file_option
def remove(name: str, users_file: str | None) -> None:
    """Take NAME's login away (effective at once: their session can change nothing more)."""
    path = _file(users_file)
    try:
        logins.remove_user(path, name)
    except logins.UsersError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{name} can no longer sign in", err=True)


@users.command("passwd")
@click.argument("name")
@file_option
@stdin_option
def passwd(name: str, users_file: str | None, password_stdin: bool) -> None:
    """Set NAME's password."""
    path = _file(users_file)
    try:
        logins.set_password(path, name, _password(password_stdin))
    except logins.UsersError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{name}'s password is changed", err=True)


@users.command("list")
@file_option
def list_users(users_file: str | None) -> None:
    """The logins and their roles (never the hashes)."""
    try:
        found = logins.load_users(_file(users_file))
    except logins.UsersError as exc:
        raise click.ClickException(str(exc)) from None
    for user in sorted(found.values(), key=lambda u: u.name):
        click.echo(f"{user.name:30s} {user.role}")
