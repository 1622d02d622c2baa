"""Databases the case-store tests run against, and small builders they share.

SQLite always.  PostgreSQL when ZOOMIN_TEST_POSTGRES_URL names a reachable
server, or else when PostgreSQL's server programs are installed here (as
`.ci/run` arranges): then a private throw-away cluster is started for the
test session on a free local port.  Otherwise the PostgreSQL cases skip,
saying why.  Set ZOOMIN_TEST_POSTGRES=0 to skip them deliberately.
"""

from __future__ import annotations

import atexit
import functools
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from models.sample_images import camera_like_photo, encode
from models.types import Analysis, Box, Evidence, Region

_cluster: dict[str, object] = {}


def _server_programs() -> Path | None:
    for candidate in [shutil.which("pg_ctl"), *sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), reverse=True)]:
        if candidate and (Path(candidate).parent / "initdb").exists():
            return Path(candidate).parent
    return None


def _as_server_user(command: list[str]) -> list[str]:
    # PostgreSQL refuses to run as root; the distribution's `postgres` account runs it.
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _reachable(url: str) -> str:
    """'' when a server answers at `url`, else why not."""
    try:
        import psycopg
    except ImportError:
        return "the psycopg driver is not installed (pip install 'psycopg[binary]')"
    try:
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), connect_timeout=5):
            return ""
    except Exception as exc:  # any failure to connect is a reason to skip, stated
        return f"PostgreSQL at {url} is unreachable: {' '.join(str(exc).split())}"


def _start_cluster() -> tuple[str | None, str]:
    programs = _server_programs()
    if programs is None:
        return None, "PostgreSQL is not installed here (no initdb/pg_ctl; .ci/run installs it with apt-get)"
    if os.geteuid() == 0:
        try:
            server_user = pwd.getpwnam("postgres")
        except KeyError:
            return None, "running as root and there is no `postgres` account to run the server"
    root = Path(tempfile.mkdtemp(prefix="zoomin-pg-"))
    if os.geteuid() == 0:
        os.chown(root, server_user.pw_uid, server_user.pw_gid)
    data, port = root / "data", _free_port()
    steps = [
        [str(programs / "initdb"), "-D", str(data), "-A", "trust", "-U", "zoomin", "-E", "UTF8", "--no-sync"],
        [str(programs / "pg_ctl"), "-D", str(data), "-l", str(root / "server.log"), "-w", "-t", "60", "-o",
         f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=100", "start"],
    ]
    for step in steps:
        try:
            done = subprocess.run(_as_server_user(step), capture_output=True, text=True, timeout=120, check=False)
            problem = "" if done.returncode == 0 else (done.stderr or done.stdout).strip()[-300:]
        except (OSError, subprocess.TimeoutExpired) as exc:
            problem = str(exc)
        if problem:
            shutil.rmtree(root, ignore_errors=True)
            return None, f"could not start a PostgreSQL cluster: {' '.join(problem.split())}"
    _cluster.update(root=root, programs=programs, data=data)
    return f"postgresql+psycopg://zoomin@127.0.0.1:{port}/postgres", ""


def stop_cluster() -> None:
    if "data" in _cluster:
        subprocess.run(_as_server_user([str(_cluster["programs"] / "pg_ctl"), "-D", str(_cluster["data"]),
                                        "-m", "immediate", "stop"]), capture_output=True, timeout=60, check=False)
        shutil.rmtree(_cluster["root"], ignore_errors=True)
        _cluster.clear()


def postgres_server_url() -> tuple[str | None, str]:
    """(admin URL, '') or (None, why PostgreSQL tests skip)."""
    if os.environ.get("ZOOMIN_TEST_POSTGRES", "") == "0":
        return None, "ZOOMIN_TEST_POSTGRES=0"
    given = os.environ.get("ZOOMIN_TEST_POSTGRES_URL", "")
    if given:
        problem = _reachable(given)
        return (None, problem) if problem else (given, "")
    url, reason = _start_cluster()
    if url:
        problem = _reachable(url)
        if problem:
            stop_cluster()
            return None, problem
    return url, reason


class PostgresDatabases:
    """A fresh database per test on one server."""

    def __init__(self, admin_url: str):
        self.admin_url = admin_url

    def _admin(self, statement: str) -> None:
        import psycopg

        with psycopg.connect(self.admin_url.replace("postgresql+psycopg://", "postgresql://"),
                             autocommit=True) as connection:
            connection.execute(statement)

    def create(self) -> str:
        name = f"zoomin_test_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{name}"')
        return self.admin_url.rsplit("/", 1)[0] + f"/{name}"

    def drop(self, url: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{url.rsplit("/", 1)[1]}" WITH (FORCE)')


# ---------------------------------------------------------------------- builders


def png_bytes(seed: int, width: int = 96, height: int = 64) -> bytes:
    return encode(camera_like_photo(height, width, seed=seed), "PNG")


def model_result(sha256: str, regions: int = 2, verdict: str = "ai-generated",
                 size_bytes: int = 1, width: int = 96, height: int = 64) -> Analysis:
    """A detector's output for the image with `sha256`, as a backend would return it."""
    found = [Region(box=Box(4 * i, 4 * i, 4 * i + 20, 4 * i + 16), score=0.5 + 0.1 * i, label=f"cue {i}",
                    explanation=f"tile {i} differs", id=f"r{i + 1}",
                    evidence=[Evidence(kind="signal", source="noise", finding=f"noise {i}", supports="ai-generated",
                                       strength=0.4, details={"z": i})])
             for i in range(regions)]
    return Analysis(file="photo.png", sha256=sha256, size_bytes=size_bytes, format="PNG", width=width,
                    height=height, verdict=verdict, score=0.8, regions=found,
                    evidence=[Evidence(kind="metadata", source="png-text", finding="generator text",
                                       supports="ai-generated", strength=0.9, decisive=True)],
                    explanation="metadata decides", backend="evidence", backend_version="test",
                    timings={"total": 0.01}, notes=["a note"])


# ---------------------------------------------------------------------- databases for a test


@pytest.fixture(autouse=True)
def store_environment(monkeypatch):
    """Autouse where imported: a DATABASE_URL or ZOOMIN_HOME of the machine
    running the tests must not redirect them to a real store."""
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("ZOOMIN_HOME", raising=False)


BACKENDS = ["sqlite", "postgresql"]


@functools.lru_cache(maxsize=1)
def shared_postgres() -> tuple[str | None, str]:
    url, reason = postgres_server_url()
    if url and "data" in _cluster:
        atexit.register(stop_cluster)
    return url, reason


def database_for(backend: str) -> Iterator[str | None]:
    """For a fixture: None (SQLite in the store's data folder) or the URL of a
    fresh PostgreSQL database, dropped afterwards; skips when there is none."""
    if backend == "sqlite":
        yield None
        return
    admin, reason = shared_postgres()
    if admin is None:
        pytest.skip(f"PostgreSQL tests skipped: {reason}")
    databases = PostgresDatabases(admin)
    url = databases.create()
    try:
        yield url
    finally:
        databases.drop(url)


@pytest.fixture(params=BACKENDS)
def database_url(request):
    """Each store test once per backend (SQLite, and PostgreSQL where it can be started)."""
    yield from database_for(request.param)


@pytest.fixture
def store(database_url, tmp_path):
    """A fresh case store on that backend, in the test's own folder.  Import it (and
    database_url) by name into a test module, as store_environment is."""
    from storage import CaseStore

    with CaseStore.open(tmp_path / "home", database_url) as opened:
        yield opened
