"""Who is acting, where a login says so.

On the newsroom server (`app.py --users`) every change is signed by the
analyst who signed in, never by a name typed on the page, and a viewer may
read and export but not change a case.  The web app registers where the
signed-in user comes from (`use_session_source`); `require_analyst`
(storage/audit.py), which every change to the store passes through, asks
`signed_in()` first.  The command line registers nothing, so there the
given name signs, as before.  `acting_as` sets the user for one block
(tests, a worker that acts for a signed-in user).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

ROLES = ("analyst", "viewer")  # analyst: reads and changes cases; viewer: reads and exports


@dataclass(frozen=True)
class SignedIn:
    name: str
    role: str

    @property
    def may_change(self) -> bool:
        return self.role == "analyst"


# Where no user is known although logins are required (a request that slipped
# past the login): nobody, who may change nothing.
NOBODY = SignedIn("", "viewer")

_acting: ContextVar[SignedIn | None] = ContextVar("zoomin_acting_user", default=None)
_session_source: Callable[[], SignedIn | None] | None = None


def use_session_source(source: Callable[[], SignedIn | None] | None) -> None:
    """Register (or, with None, remove) the function telling who signed in for the request being served."""
    global _session_source
    _session_source = source


def signed_in() -> SignedIn | None:
    """The signed-in user acting now, or None where no login applies (the command line)."""
    user = _acting.get()
    if user is not None:
        return user
    return _session_source() if _session_source is not None else None


@contextmanager
def acting_as(user: SignedIn) -> Iterator[SignedIn]:
    token = _acting.set(user)
    try:
        yield user
    finally:
        _acting.reset(token)
