"""What the web app may expose: the address it binds to, who may log in,
how large an upload may be, which folders it may serve files from, and
what it serves before login (the login page, nothing else).  Cases are
sensitive, so the safe choice is the default and the unsafe one must be
asked for explicitly."""

from __future__ import annotations

import ipaddress
import os
import re
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from zoomin_ui.users import login_client

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


def check_bind(host: str, auth: object | None) -> None:
    """Only loopback may go without a login (--auth, or --users for one per analyst):
    anything else is reachable from the network."""
    if not is_loopback(host) and auth is None:
        raise LaunchRefused(f"refusing to serve on {host} without a login: the workbench holds sensitive "
                            f"cases. Give --users users.toml (one login per analyst, see `zoomin users`) or "
                            f"--auth USER:PASS (or set {AUTH_ENV}), or bind to {DEFAULT_HOST}.")


# ---------------------------------------------------------------------- what the page may serve

# Inside the data folder, never served: the database (and its -wal/-shm/-journal
# files), the evidence store, the signing keys, staging and run bookkeeping.
PRIVATE_NAMES = ("cases.sqlite3", "objects", "keys", "tmp", "runners")


def served_folders(home: Path) -> list[str]:
    """The only folders the page hands files out of: the exports (PDF reports and
    bundles).  Images on screen come from Gradio's own cache (web-uploads/)."""
    return [str(home / "exports")]


def private_paths(home: Path) -> list[str]:
    """What the page must never serve, even if a setting or a Gradio default would
    allow it (Gradio's blocked_paths win over everything else)."""
    paths = [home / name for name in PRIVATE_NAMES]
    paths += [home / f"cases.sqlite3{suffix}" for suffix in ("-wal", "-shm", "-journal")]
    return [str(p) for p in paths]


def upload_folder() -> Path:
    """Where Gradio keeps uploads (launch sets GRADIO_TEMP_DIR inside the data folder)."""
    return Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio").absolute()


def discard_refused_upload(path: str | os.PathLike) -> bool:
    """Delete an upload the workbench refused (not an image, too large), at once: a refused
    file is not evidence and must not linger in the data folder.  Only ever a file inside
    Gradio's upload folder; an analyst's own file elsewhere is never touched."""
    target = Path(path).absolute()
    root = upload_folder()
    if not target.is_relative_to(root) or target == root:
        return False
    try:
        target.unlink()
    except FileNotFoundError:
        return False
    except OSError:
        return False
    if target.parent != root:
        try:
            target.parent.rmdir()  # Gradio puts each upload in a folder of its own
        except OSError:
            pass
    return True


# ---------------------------------------------------------------------- nothing before login

# What the login page itself needs; /gradio_api/startup-events is Gradio's own
# launch check (it answers true or false and runs nothing a visitor chooses).
_OPEN_BEFORE_LOGIN = ("/", "/login", "/login/", "/favicon.ico", "/theme.css", "/gradio_api/theme.css",
                      "/gradio_api/startup-events", "/manifest.json", "/robots.txt")
_OPEN_PREFIXES = ("/assets/", "/static/", "/svelte/")
_API_INFO = re.compile(rb"gradio_api_info\s*=\s*.*?;\s*(?=</script>|\n)", re.DOTALL)


class LoginGate:
    """ASGI middleware for the Gradio app when a login is set: before login only the login
    page is served; every other route (file routes, the API schema, the heartbeat, the
    queue) answers 401.  The login page itself is served without the API schema of every
    endpoint that Gradio would otherwise embed in it."""

    def __init__(self, app: Any, on_logout: Callable[[str, str], None] | None = None):
        self.app, self.on_logout = app, on_logout  # on_logout(user, client): the server log's entry

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] == "http":  # for the login's throttle and the server log (zoomin_ui/users.py)
            login_client.set(str((scope.get("client") or ("",))[0]))
        gradio_app = scope.get("app")
        if scope["type"] not in ("http", "websocket") or getattr(gradio_app, "auth", None) is None:
            await self.app(scope, receive, send)
            return
        user = _session_user(scope, gradio_app)
        if user is not None:
            if scope["type"] == "http" and scope.get("path") == "/logout" and self.on_logout is not None:
                self.on_logout(user, login_client.get())  # Gradio's own route then ends the session
            await self.app(scope, receive, send)
            return
        path = scope.get("path", "")
        if scope["type"] == "http" and (path in _OPEN_BEFORE_LOGIN or path.startswith(_OPEN_PREFIXES)):
            await (self._login_page(scope, receive, send) if path == "/" else self.app(scope, receive, send))
            return
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = b'{"detail":"Not authenticated: log in first"}'
        await send({"type": "http.response.start", "status": 401,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})

    async def _login_page(self, scope: dict, receive: Any, send: Any) -> None:
        start: dict = {}
        chunks: list[bytes] = []

        async def capture(message: dict) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = _API_INFO.sub(b"gradio_api_info = {};", b"".join(chunks))
            headers = [(k, v) for k, v in start.get("headers", []) if k.lower() != b"content-length"]
            await send({**start, "headers": [*headers, (b"content-length", str(len(body)).encode())]})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, capture)


def _session_user(scope: dict, gradio_app: Any) -> str | None:
    """The login behind the request's session cookie, None where it has none."""
    cookies: dict[str, str] = {}
    for key, value in scope.get("headers", []):
        if key.lower() == b"cookie":
            for part in value.decode("latin-1").split(";"):
                name, _, content = part.strip().partition("=")
                cookies[name] = content
    cookie_id = getattr(gradio_app, "cookie_id", "")
    token = cookies.get(f"access-token-{cookie_id}") or cookies.get(f"access-token-unsecure-{cookie_id}")
    return getattr(gradio_app, "tokens", {}).get(token) if token else None
