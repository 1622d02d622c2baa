"""The C2PA trust lists: the official copy shipped in models/evidence/trust/,
a newer one installed into the data folder, and what they say.

A list is the C2PA's machine-readable LoTE JSON (C2PA-TRUST-LIST.json for
claim signers, C2PA-TSA-TRUST-LIST.json for time-stamp authorities).  The
certificates given to c2pa-python are taken from it, so a list is one file
whose issue date, next-update date and entity names travel with its anchors.
The installed copy is used when it was issued later than the shipped one;
an older installed copy is ignored (and `zoomin trust show` says so).

No network fetch happens here: the lists are published at
https://c2pa.org/conformance and an analyst downloads and installs them.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import json
import os
import tempfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Literal

SHIPPED_FOLDER = Path(__file__).with_name("trust")
INSTALLED_FOLDER_NAME = "c2pa-trust"
LIST_FILES = {"signers": "C2PA-TRUST-LIST.json", "timestamps": "C2PA-TSA-TRUST-LIST.json"}
MAX_LIST_BYTES = 5_000_000
PUBLISHED_AT = "https://c2pa.org/conformance (c2pa-org/conformance-public on GitHub, folder trust-list/)"

ListKind = Literal["signers", "timestamps"]


class TrustListError(ValueError):
    """A trust list file that cannot be used; the message is one plain line."""


@dataclass(frozen=True)
class TrustList:
    kind: ListKind
    path: Path
    issued: datetime.datetime
    next_update: datetime.datetime | None
    pem: str  # every trusted certificate, PEM-encoded
    organisations: tuple[str, ...]
    certificate_count: int
    shipped: bool
    organisation_of: dict[str, str] = field(default_factory=dict, compare=False)  # certificate O/CN -> TEName

    def expired(self, now: datetime.datetime | None = None) -> bool:
        now = now or datetime.datetime.now(datetime.timezone.utc)
        return self.next_update is not None and now > self.next_update

    def describe(self) -> dict[str, object]:
        return {"kind": self.kind, "issued": _iso(self.issued),
                "next_update": _iso(self.next_update) if self.next_update else None,
                "expired": self.expired(), "certificates": self.certificate_count,
                "organisations": len(self.organisations), "shipped": self.shipped, "path": str(self.path)}


def parse_trust_list(data: bytes, path: Path, shipped: bool = False) -> TrustList:
    """A LoTE trust list from its JSON bytes; TrustListError when it is not one."""
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509.oid import NameOID

    if len(data) > MAX_LIST_BYTES:
        raise TrustListError(f"{path.name} is larger than {MAX_LIST_BYTES // 1_000_000} MB; not a trust list")
    try:
        lote = json.loads(data.decode("utf-8"))["LoTE"]
        scheme = lote["ListAndSchemeInformation"]
        names = " ".join(str(n.get("value", "")) for n in scheme.get("SchemeName") or [] if isinstance(n, dict))
        issued = _date(scheme["ListIssueDateTime"])
        next_update = _date(scheme["NextUpdate"]) if scheme.get("NextUpdate") else None
        entities = lote.get("TrustedEntitiesList") or []
    except (UnicodeDecodeError, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise TrustListError(f"{path.name} is not a C2PA trust list in LoTE JSON ({type(exc).__name__}: "
                             f"{str(exc)[:120]})") from None
    if "C2PA" not in names:
        raise TrustListError(f"{path.name} is a list of trusted entities, but not the C2PA's ({names[:80]!r})")
    kind: ListKind = "timestamps" if "TSA" in names else "signers"
    pems, organisations, organisation_of = [], [], {}
    for entity in entities:
        try:
            name = str(entity["TrustedEntityInformation"]["TEName"][0]["value"])
            services = entity.get("TrustedEntityServices") or []
        except (KeyError, IndexError, TypeError, AttributeError):
            raise TrustListError(f"{path.name} has an entity without a name") from None
        for service in services:
            info = service.get("ServiceInformation") if isinstance(service, dict) else None
            if not isinstance(info, dict) or not str(info.get("ServiceStatus", "")).endswith("/trusted"):
                continue  # withdrawn or suspended services are not anchors
            for item in (info.get("ServiceDigitalIdentity") or {}).get("X509Certificates") or []:
                try:
                    certificate = x509.load_der_x509_certificate(base64.b64decode(item["val"], validate=True))
                except (KeyError, TypeError, ValueError, binascii.Error):
                    raise TrustListError(f"{path.name} holds a certificate for {name!r} that cannot be "
                                         "decoded") from None
                pems.append(certificate.public_bytes(Encoding.PEM).decode("ascii"))
                for oid in (NameOID.ORGANIZATION_NAME, NameOID.COMMON_NAME):
                    for attribute in certificate.subject.get_attributes_for_oid(oid):
                        organisation_of.setdefault(str(attribute.value), name)
                organisation_of.setdefault(name, name)
        organisations.append(name)
    if not pems:
        raise TrustListError(f"{path.name} lists no trusted certificate")
    return TrustList(kind, path, issued, next_update, "".join(pems), tuple(dict.fromkeys(organisations)),
                     len(pems), shipped, organisation_of)


def installed_folder(home: str | os.PathLike | None = None) -> Path:
    from storage.config import data_home

    return data_home(home) / INSTALLED_FOLDER_NAME


def active_lists(home: str | os.PathLike | None = None) -> dict[ListKind, TrustList]:
    """The list of each kind in use: the installed one when issued later, else the shipped one."""
    chosen: dict[ListKind, TrustList] = {}
    for kind, name in LIST_FILES.items():
        shipped = _load(SHIPPED_FOLDER / name, True)
        installed = _load(installed_folder(home) / name, False)
        best = installed if installed and (shipped is None or installed.issued > shipped.issued) else shipped
        if best is not None:
            chosen[kind] = best  # type: ignore[index]
    return chosen


def anchors_pem(home: str | os.PathLike | None = None) -> tuple[str, list[TrustList]]:
    """All trusted roots as one PEM text (signers and time-stamp authorities: c2pa-python
    takes one anchor set for both), and the lists they came from."""
    lists = list(active_lists(home).values())
    return "".join(t.pem for t in lists), lists


def install_trust_list(source: str | os.PathLike, home: str | os.PathLike | None = None) -> TrustList:
    """Validate `source` and copy it into the data folder, where it replaces the list of
    its kind in use.  A list not issued later than the one in use is refused (nothing changes)."""
    path = Path(source)
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_LIST_BYTES + 1)  # a larger file is refused without reading it all
    except OSError as exc:
        raise TrustListError(f"cannot read {path}: {exc.strerror or exc}") from None
    new = parse_trust_list(data, path)
    current = active_lists(home).get(new.kind)
    if current is not None and new.issued <= current.issued:
        raise TrustListError(f"{path.name} was issued {_iso(new.issued)}, not later than the {new.kind} list in "
                             f"use (issued {_iso(current.issued)}); nothing was changed")
    folder = installed_folder(home)
    folder.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=folder, prefix=".incoming-")
    with os.fdopen(handle, "wb") as out:
        out.write(data)
    os.replace(temporary, folder / LIST_FILES[new.kind])
    return new


@lru_cache(maxsize=16)
def _load_cached(path: str, mtime_ns: int, size: int, shipped: bool) -> TrustList | None:
    try:
        return parse_trust_list(Path(path).read_bytes(), Path(path), shipped)
    except (OSError, TrustListError):
        return None


def _load(path: Path, shipped: bool) -> TrustList | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return _load_cached(str(path), stat.st_mtime_ns, stat.st_size, shipped)


def _date(text: object) -> datetime.datetime:
    value = datetime.datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=datetime.timezone.utc)


def _iso(value: datetime.datetime) -> str:
    return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
