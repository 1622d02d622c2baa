"""One login per analyst on the newsroom server (`app.py --users users.toml`).

The users file is TOML, one table per user, kept by `zoomin users`:

    [users."amira"]
    role = "analyst"        # or "viewer": reads and exports, changes nothing
    password = "$argon2id$v=19$..."   # an argon2id hash, never the password

A login is checked against the file as it is now (a user added, removed or
given a new password counts at the next login, without a restart), failed
logins are throttled per name and per client address, and every login,
failed login and throttled one is written to the store's server log
(storage/server_events.py).  While a page is served, the signed-in user is
who acts (storage/identity.py): a typed name signs nothing.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
import tomllib
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from storage.identity import NOBODY, ROLES, SignedIn

USERS_ENV = "ZOOMIN_USERS"
MIN_PASSWORD = 10
_NAME = re.compile(r"^[\w][\w.@-]{0,99}$")
_hasher = PasswordHasher()  # argon2id, the library's current parameters
_DUMMY_HASH = _hasher.hash("not a password of anyone here")  # an unknown name costs as much as a known one

# The client address of the login request being checked (set by the web's LoginGate).
login_client: ContextVar[str] = ContextVar("zoomin_login_client", default="")


class UsersError(Exception):
    """The users file or a change to it is not valid; the message says why."""


@dataclass(frozen=True)
class User:
    name: str
    role: str
    password_hash: str


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD:
        raise UsersError(f"a password needs at least {MIN_PASSWORD} characters")
    return _hasher.hash(password)


def password_matches(user: User | None, password: str) -> bool:
    try:
        return _hasher.verify(user.password_hash if user else _DUMMY_HASH, password) and user is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


# ---------------------------------------------------------------------- the file


def users_path(given: str | os.PathLike | None) -> Path | None:
    text = os.fspath(given) if given else os.environ.get(USERS_ENV, "").strip()
    return Path(text) if text else None


def load_users(path: Path) -> dict[str, User]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsersError(f"no users file at {path} (create one with `zoomin users add NAME --users {path}`)") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsersError(f"cannot read the users file {path}: {exc}") from None
    users = {}
    for name, entry in (data.get("users") or {}).items():
        if not isinstance(entry, dict) or entry.get("role") not in ROLES or not isinstance(entry.get("password"), str):
            raise UsersError(f"{path}: user {name!r} needs a role ({' or '.join(ROLES)}) and a password hash")
        if not entry["password"].startswith("$argon2"):
            raise UsersError(f"{path}: user {name!r}'s password is not an argon2 hash; set it with `zoomin users passwd`")
        users[name] = User(name, entry["role"], entry["password"])
    return users


def save_users(path: Path, users: dict[str, User]) -> None:
    """Written whole to a private temporary file, then moved over the old one."""
    lines = ["# ZoomIn newsroom logins: edit with `zoomin users add|remove|passwd`", ""]
    for user in sorted(users.values(), key=lambda u: u.name):
        lines += [f"[users.{json.dumps(user.name)}]", f"role = {json.dumps(user.role)}",
                  f"password = {json.dumps(user.password_hash)}", ""]
    path.parent.mkdir(parents=True, exist_ok=True)
    staged = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    descriptor = os.open(staged, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write("\n".join(lines))
    os.replace(staged, path)


def add_user(path: Path, name: str, password: str, role: str) -> User:
    if not _NAME.match(name):
        raise UsersError("a user name is letters, digits and . _ @ - (at most 100), starting with a letter or digit")
    if role not in ROLES:
        raise UsersError(f"a role is {' or '.join(ROLES)}")
    users = load_users(path) if path.exists() else {}
    if name in users:
        raise UsersError(f"{name} already has a login; change it with `zoomin users passwd {name}`")
    users[name] = User(name, role, hash_password(password))
    save_users(path, users)
    return users[name]


def remove_user(path: Path, name: str) -> None:
    users = load_users(path)
    if users.pop(name, None) is None:
        raise UsersError(f"no user {name} in {path}")
    save_users(path, users)


def set_password(path: Path, name: str, password: str) -> None:
    users = load_users(path)
    if name not in users:
        raise UsersError(f"no user {name} in {path}")
    users[name] = User(name, users[name].role, hash_password(password))
    save_users(path, users)


# ---------------------------------------------------------------------- logins


class LoginThrottle:
    """After `limit` failed logins within `window` seconds, for one name or from
    one address, refuse further tries from it until the oldest failure ages out."""

    def __init__(self, limit: int = 5, window: float = 900.0, clock: Callable[[], float] = time.monotonic):
        self.limit, self.window, self.clock = limit, window, clock
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def blocked(self, *keys: str) -> bool:
        now = self.clock()
        with self._lock:
            return any(len(self._recent(key, now)) >= self.limit for key in keys if key)

    def failed(self, *keys: str) -> None:
        now = self.clock()
        with self._lock:
            for key in filter(None, keys):
                self._failures[key] = [*self._recent(key, now), now]

    def succeeded(self, name_key: str) -> None:
        with self._lock:
            self._failures.pop(name_key, None)

    def _recent(self, key: str, now: float) -> list[float]:
        return [t for t in self._failures.get(key, []) if now - t < self.window]


ServerLog = Callable[[str, str, str, dict | None], None]  # actor, action, client, detail


class UserBook:
    """The users file as the server reads it: re-read when it changes on disk."""

    def __init__(self, path: Path):
        self.path = path
        self._stamp: tuple[int, int] | None = None
        self._users: dict[str, User] = {}
        self._lock = threading.Lock()
        self.users()  # a broken or missing file stops the server at launch, not at the first login

    def users(self) -> dict[str, User]:
        with self._lock:
            stat = self.path.stat() if self.path.exists() else None
            stamp = (stat.st_mtime_ns, stat.st_size) if stat else None
            if stamp != self._stamp or stamp is None:
                self._users = load_users(self.path)
                self._stamp = stamp
            return self._users

    def get(self, name: str | None) -> User | None:
        try:
            return self.users().get(name or "")
        except UsersError:
            return None  # a file broken while serving: nobody signs in, nothing is signed by a stale entry


class Authenticator:
    """Gradio's `auth` (its `login` method): the password checked off the event loop, throttled and logged."""

    def __init__(self, book: UserBook, log: ServerLog, throttle: LoginThrottle | None = None):
        self.book, self.log, self.throttle = book, log, throttle or LoginThrottle()

    async def login(self, username: str, password: str) -> bool:
        """Gradio awaits this (it must be a coroutine function: an object with an
        async __call__ would be called, not awaited, and its coroutine is truthy)."""
        import anyio.to_thread

        return await anyio.to_thread.run_sync(self.check, username, password, login_client.get())

    def check(self, username: str, password: str, client: str = "") -> bool:
        name_key, client_key = f"name:{username}", f"client:{client}" if client else ""
        if self.throttle.blocked(name_key, client_key):
            self.log(username, "login-throttled", client, None)
            return False
        user = self.book.get(username)
        if password_matches(user, password):
            self.throttle.succeeded(name_key)
            try:
                self.log(username, "login", client, {"role": user.role})
            except Exception:  # a login that cannot be audited is refused
                return False
            return True
        self.throttle.failed(name_key, client_key)
        self.log(username, "login-failed", client, {"known_user": user is not None})
        return False


def gradio_session_user(book: UserBook) -> Callable[[], SignedIn]:
    """Who signed in for the Gradio event being served (its request's login);
    anything unidentified is nobody, who may change nothing."""
    def current() -> SignedIn:
        from gradio.context import LocalContext

        request = LocalContext.request.get(None)
        user = book.get(getattr(request, "username", None))
        return SignedIn(user.name, user.role) if user else NOBODY

    return current


def page_analyst(saved: str, typed: str):
    """The page's Analyst box when it loads: the signed-in user, fixed (a typed
    name would sign nothing); without logins, the name the browser remembers
    (never over one being typed)."""
    import gradio as gr

    from storage.identity import signed_in

    user = signed_in()
    if user is not None and user.name:
        return gr.Textbox(value=user.name, interactive=False, label=f"Analyst (signed in, {user.role})")
    return gr.skip() if typed or not saved else saved
