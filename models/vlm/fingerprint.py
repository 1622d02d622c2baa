"""Which exact weights and software produced a result, for the case record.

A checkpoint is identified by the SHA-256 of its weight files.  In the
Hugging Face cache every file is a link to a blob named by its own SHA-256,
so that costs nothing; a plain folder is hashed once and remembered (by
path, size and modification time) in ~/.cache/zoomin/weights-sha256.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import threading
from functools import lru_cache
from pathlib import Path

WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")
_BLOB_NAME = re.compile(r"^[0-9a-f]{64}$")
_LOCK = threading.Lock()


def _memo_path() -> Path:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(root) / "zoomin" / "weights-sha256.json"


def file_sha256(path: Path) -> str:
    """SHA-256 of one weight file: free for hub blobs, remembered for others."""
    resolved = path.resolve()
    if _BLOB_NAME.match(resolved.name) and resolved.parent.name == "blobs":
        return resolved.name
    stat = resolved.stat()
    key = f"{resolved}|{stat.st_size}|{stat.st_mtime_ns}"
    with _LOCK:
        memo = _read_memo()
        if key in memo:
            return memo[key]
    digest = hashlib.sha256()
    with open(resolved, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 24), b""):
            digest.update(chunk)
    value = digest.hexdigest()
    with _LOCK:
        memo = _read_memo()
        memo[key] = value
        _write_memo(memo)
    return value


def weights_fingerprint(folder: Path) -> str:
    """One SHA-256 over the checkpoint's weight files (name and content hash of each)."""
    files = sorted(p for p in Path(folder).iterdir() if p.name.endswith(WEIGHT_SUFFIXES))
    if not files:
        return "no-weight-files"
    combined = hashlib.sha256()
    for path in files:
        combined.update(f"{path.name}:{file_sha256(path)}\n".encode())
    return combined.hexdigest()


def _read_memo() -> dict[str, str]:
    try:
        return json.loads(_memo_path().read_text())
    except (OSError, ValueError):
        return {}


def _write_memo(memo: dict[str, str]) -> None:
    path = _memo_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.tmp")
        temporary.write_text(json.dumps(memo, indent=0, sort_keys=True))
        temporary.replace(path)
    except OSError:  # a read-only home costs a re-hash next time, nothing more
        pass


@lru_cache(maxsize=1)
def software_versions() -> dict[str, str]:
    import platform
    from importlib.metadata import PackageNotFoundError, version

    found = {"python": platform.python_version()}
    for package in ("torch", "transformers", "bitsandbytes", "accelerate", "tokenizers", "huggingface-hub",
                    "requests"):
        try:
            found[package] = version(package)
        except PackageNotFoundError:
            continue
    try:
        import torch

        if torch.cuda.is_available():
            found["cuda"] = str(torch.version.cuda)
            found["gpu"] = torch.cuda.get_device_name(0)
    except Exception:
        pass
    return found
