"""What the web app may expose: the address it binds to, who may log in,
how large an upload may be.  Cases are sensitive, so the safe choice is the
default and the unsafe one must be asked for explicitly."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping

AUTH_ENV = "ZOOMIN_AUTH"
DEFAULT_HOST = "127.0.0.1"
# Gradio refuses larger uploads before they reach a handler; the workbench
# checks the size again (and the content) when it takes a file in.
MAX_UPLOAD = "64mb"


class LaunchRefused(Exception):
    """The app must not start with these settings; the message says why."""


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip().strip("[]")).is_loopback
    except ValueError:
        return False  # a host name may resolve anywhere


def parse_auth(text: str) -> tuple[str, str]:
    """USER:PASS (the password may contain ':')."""
    user, sep, password = (text or "").partition(":")
    if not sep or not user.strip() or not password:
        raise LaunchRefused("--auth / ZOOMIN_AUTH must be USER:PASS with both parts given")
    return user.strip(), password


def resolve_auth(flag: str | None, env: Mapping[str, str] = os.environ) -> tuple[str, str] | None:
    """The login from --auth, else from ZOOMIN_AUTH, else none."""
    text = flag if flag else env.get(AUTH_ENV, "")
    return parse_auth(text) if text else None


def check_bind(host: str, auth: tuple[str, str] | None) -> None:
    """Only loopback may go without a login: anything else is reachable from the network."""
    if not is_loopback(host) and auth is None:
        raise LaunchRefused(f"refusing to serve on {host} without a login: the workbench holds sensitive "
                            f"cases. Give --auth USER:PASS (or set {AUTH_ENV}), or bind to {DEFAULT_HOST}.")
