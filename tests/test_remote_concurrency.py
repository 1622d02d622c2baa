"""`zoomin analyze --backend remote --concurrency K` against a stub server
that counts the requests in flight and answers some with 429, 503 or late:
never more than K open, the server's Retry-After honoured, and exactly the
results of the one-at-a-time run."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
import requests
from click.testing import CliRunner

from models.sample_images import camera_like_photo, encode
from models.vlm.concurrency import InFlightGate, retry_after, retry_delay
from tests.chat_stub import StubChatServer
from zoomin_ui.cli import main


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("remote-batch")
    for seed in range(6):
        (root / f"{seed}.png").write_bytes(encode(camera_like_photo(96, 128 + 8 * seed, seed=seed), "PNG"))
    return root


def analyze(server: StubChatServer, folder, *args: str):
    return CliRunner().invoke(main, ["analyze", str(folder), "--backend", "remote", "--model", "Qwen/Qwen2.5-VL-7B-Instruct",
                                     "--base-url", server.url, "--no-evidence-context", "--json", "--ordered",
                                     *args], catch_exceptions=False)


def results(output: str) -> list[tuple]:
    records = [json.loads(line) for line in output.splitlines()]
    return [(r["file"], r["verdict"], r["score"], [(x["box"], x["explanation"]) for x in r["regions"]])
            for r in records]


def test_concurrent_requests_give_the_sequential_results(folder, monkeypatch):
    monkeypatch.setenv("ZOOMIN_REMOTE_RETRIES", "3")
    calm = StubChatServer(delay=0.05)
    try:
        sequential = analyze(calm, folder, "--concurrency", "1")
        assert sequential.exit_code == 0, sequential.output
        assert calm.peak == 1
    finally:
        calm.close()
    busy = StubChatServer(delay=0.2, fail_every={429: 5, 503: 7}, slow_every=4)
    try:
        concurrent = analyze(busy, folder, "--concurrency", "4")
        assert concurrent.exit_code == 0, concurrent.output
        assert 2 <= busy.peak <= 4  # several in flight, never more than asked
        assert busy.refused.get(429) and busy.refused.get(503)  # refused, retried, answered
    finally:
        busy.close()
    assert results(concurrent.stdout) == results(sequential.stdout)
    assert len({r[3][0][0][0] for r in results(sequential.stdout)}) > 1  # the answers differ per image


def test_concurrency_is_for_the_remote_backend(folder):
    result = CliRunner().invoke(main, ["analyze", str(folder), "--concurrency", "4"])
    assert result.exit_code == 2 and "--concurrency applies to --backend remote" in result.output


def test_the_gate_never_lets_more_than_its_limit_through():
    gate, release, inside = InFlightGate(2), threading.Event(), threading.Semaphore(0)

    def hold():
        with gate:
            inside.release()
            release.wait(10)

    threads = [threading.Thread(target=hold) for _ in range(5)]
    for thread in threads:
        thread.start()
    assert inside.acquire(timeout=10) and inside.acquire(timeout=10)  # two are in
    assert gate.open == 2 and not inside.acquire(timeout=0.2)  # the other three wait at the gate
    release.set()
    for thread in threads:
        thread.join(10)
    assert gate.peak == 2 and gate.open == 0


def reply(headers: dict[str, str]) -> requests.Response:
    response = requests.Response()
    response.status_code = 429
    response.headers.update(headers)
    return response


def test_retry_after_in_seconds_or_as_a_date_else_exponential_backoff():
    assert retry_after(reply({"Retry-After": "3"})) == 3.0
    now = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
    assert retry_after(reply({"Retry-After": format_datetime(now + timedelta(seconds=30), usegmt=True)}),
                       now) == pytest.approx(30.0)
    assert retry_after(reply({"Retry-After": "99999"})) == 120.0  # capped: a server that long away is down
    assert retry_after(reply({"Retry-After": "soon"})) is None
    assert retry_delay(reply({}), attempt=3, backoff=0.5) == 2.0
    assert retry_delay(None, attempt=1, backoff=0.5) == 0.5
    assert retry_delay(reply({"Retry-After": "0"}), attempt=4, backoff=1.0) == 0.0
