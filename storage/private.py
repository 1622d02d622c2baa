"""The data folder is private to the analyst who runs ZoomIn: cases are
sensitive, and a default umask of 022 would leave them readable by every
account on the machine.  The folder is created 0700 and the SQLite file
0600 (SQLite gives its -wal and -shm files the database file's mode)."""

from __future__ import annotations

import os
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600


def private_folder(folder: Path) -> None:
    """Create `folder` (and missing parents) readable by its owner only; an
    existing folder is left as its owner set it."""
    if folder.is_dir():
        return
    folder.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    os.chmod(folder, FOLDER_MODE)  # mkdir's mode is filtered through the umask


def private_file(path: Path) -> None:
    """Create an empty `path` 0600 before another library creates it under the umask."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE))
    except FileExistsError:
        pass
