"""The one exception the report raises; the service layer maps it to a WorkbenchError."""

from __future__ import annotations


class ReportError(Exception):
    """A report that could not be written; nothing was left half-written.

    code: not-found (no such case or analysis), hash-mismatch (an evidence file
    no longer matches its recorded SHA-256), no-analysis, font, destination,
    storage, or a case-store code.
    """

    def __init__(self, message: str, code: str = "error"):
        super().__init__(message)
        self.code = code
