"""Where the case store lives and who is working: read from the environment
once, here, so the UI, the CLI and the tests agree."""

from __future__ import annotations

import getpass
import os
from pathlib import Path

from platformdirs import user_data_dir
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError

from storage.errors import StoreError

APP_NAME = "zoomin-workbench"
DATABASE_FILE = "cases.sqlite3"


def data_home(home: str | os.PathLike | None = None) -> Path:
    """The data folder: `home` if given, else ZOOMIN_HOME, else the user's data directory."""
    chosen = home if home is not None else os.environ.get("ZOOMIN_HOME") or user_data_dir(APP_NAME, appauthor=False)
    return Path(chosen).expanduser().absolute()


def database_url(home: Path, url: str | None = None) -> URL:
    """`url` if given, else DATABASE_URL, else the SQLite file in the data folder."""
    text = url or os.environ.get("DATABASE_URL") or ""
    if not text:
        return URL.create("sqlite", database=str(home / DATABASE_FILE))
    try:
        parsed = make_url(text)
    except ArgumentError:
        raise StoreError(f"DATABASE_URL is not a database URL: {_hide_password(text)!r}", "unavailable") from None
    # A bare postgresql:// would ask for psycopg2; the declared driver is psycopg 3.
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def default_analyst() -> str:
    """Who is at the keyboard when no --analyst is given: ZOOMIN_ANALYST or the OS user."""
    name = os.environ.get("ZOOMIN_ANALYST", "").strip()
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers): still an honest record
        return f"uid-{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def _hide_password(text: str) -> str:
    if "@" in text and "://" in text:
        scheme, rest = text.split("://", 1)
        credentials, host = rest.rsplit("@", 1)
        return f"{scheme}://{credentials.split(':', 1)[0]}:***@{host}"
    return text
