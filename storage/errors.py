"""The one exception the case store raises at its callers."""

from __future__ import annotations


class StoreError(Exception):
    """A case-store failure the analyst can act on.  When it is raised the
    database and the files are as they were before the call.

    code: not-found, invalid, conflict, tampered, newer-schema, unavailable,
    storage (disk full, read-only folder), bad-bundle, or an image-input code.
    """

    def __init__(self, message: str, code: str = "error"):
        super().__init__(message)
        self.code = code
