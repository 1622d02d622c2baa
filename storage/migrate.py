"""Bringing a database to the schema this version of the code expects.

Alembic runs programmatically from the migrations inside the package (no
alembic.ini at run time).  A database stamped with a revision this code
does not know was written by a newer ZoomIn: it is refused, never touched.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import text
from sqlalchemy.orm import Session

from storage.database import Database
from storage.errors import StoreError

MIGRATIONS = Path(__file__).with_name("migrations")
# Any constant: PostgreSQL sessions upgrading at once queue on this lock.
_PG_UPGRADE_LOCK = 0x5A4F4F4D


@lru_cache(maxsize=1)
def script_directory() -> ScriptDirectory:
    return ScriptDirectory(str(MIGRATIONS))


def head_revision() -> str:
    head = script_directory().get_current_head()
    assert head is not None, "the migrations folder has no revisions"
    return head


def known_revisions() -> list[str]:
    """Every revision from the first to head, oldest first."""
    return [script.revision for script in reversed(list(script_directory().walk_revisions()))]


def is_known_revision(revision: str) -> bool:
    try:
        return script_directory().get_revision(revision) is not None
    except CommandError:
        return False


def current_revision(db: Database) -> str | None:
    return db.read(lambda session: MigrationContext.configure(session.connection()).get_current_revision())


def upgrade(db: Database, target: str = "head") -> None:
    """Upgrade to `target` (default: the newest schema) in one transaction."""
    current = current_revision(db)
    if target == "head" and current == head_revision():
        return
    if current is not None and not is_known_revision(current):
        raise StoreError(
            f"{db.describe()} has schema revision {current!r}, written by a newer version of ZoomIn "
            f"(this version knows up to {head_revision()!r}); upgrade ZoomIn to open it. Nothing was changed.",
            "newer-schema")
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))

    def run(session: Session) -> None:
        connection = session.connection()
        if connection.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_UPGRADE_LOCK})
        config.attributes["connection"] = connection
        command.upgrade(config, target)

    try:
        db.write(run)
    except CommandError as exc:
        raise StoreError(f"cannot upgrade {db.describe()}: {exc}", "unavailable") from None
