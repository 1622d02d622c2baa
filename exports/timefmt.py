"""How the report writes a moment: always in UTC, to the second."""

from __future__ import annotations

from datetime import datetime, timezone


def when(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC"
