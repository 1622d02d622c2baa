"""One login per analyst: argon2 hashes in the users file, `zoomin users`,
wrong passwords refused, failed logins throttled and logged, the signed-in
user signing every change whatever name was typed, and a viewer refused any
change by the store itself (not just by the page)."""

from __future__ import annotations

import asyncio

import pytest
from click.testing import CliRunner

from models.sample_images import camera_like_photo, encode
from storage import CaseStore, StoreError
from storage.identity import NOBODY, SignedIn, acting_as, signed_in, use_session_source
from storage.server_events import record_server_event, server_events
from zoomin_ui import service
from zoomin_ui.cli import main
from zoomin_ui.users import (
    Authenticator,
    LoginThrottle,
    UserBook,
    UsersError,
    add_user,
    gradio_session_user,
    hash_password,
    load_users,
    password_matches,
    remove_user,
    set_password,
)

PASSWORD = "correct horse battery"


@pytest.fixture
def users_file(tmp_path):
    path = tmp_path / "users.toml"
    add_user(path, "amira", PASSWORD, "analyst")
    add_user(path, "vik", "viewer password", "viewer")
    return path


@pytest.fixture
def store(tmp_path):
    opened = CaseStore.open(str(tmp_path / "home"))
    yield opened
    opened.close()


@pytest.fixture
def photo(tmp_path):
    path = tmp_path / "photo.png"
    path.write_bytes(encode(camera_like_photo(96, 128, seed=3), "PNG"))
    return path


def test_passwords_are_kept_as_argon2id_hashes_only(users_file):
    text = users_file.read_text()
    assert PASSWORD not in text and "$argon2id$" in text
    assert oct(users_file.stat().st_mode & 0o777) == "0o600"
    users = load_users(users_file)
    assert {u.name: u.role for u in users.values()} == {"amira": "analyst", "vik": "viewer"}
    assert password_matches(users["amira"], PASSWORD)
    assert not password_matches(users["amira"], PASSWORD.upper())
    assert not password_matches(None, PASSWORD)  # an unknown name never matches
    assert hash_password(PASSWORD) != hash_password(PASSWORD)  # salted
    with pytest.raises(UsersError, match="at least 10"):
        hash_password("short")


def test_users_file_changes(users_file):
    with pytest.raises(UsersError, match="already has a login"):
        add_user(users_file, "amira", PASSWORD, "analyst")
    with pytest.raises(UsersError, match="a user name is"):
        add_user(users_file, "bad name\n[users.x]", PASSWORD, "analyst")
    set_password(users_file, "amira", "a new long password")
    assert password_matches(load_users(users_file)["amira"], "a new long password")
    remove_user(users_file, "vik")
    assert set(load_users(users_file)) == {"amira"}
    users_file.write_text('[users.eve]\nrole = "analyst"\npassword = "plain text"\n')
    with pytest.raises(UsersError, match="not an argon2 hash"):
        load_users(users_file)


def test_the_users_command_reads_passwords_hidden_or_from_stdin(tmp_path):
    path = str(tmp_path / "team.toml")
    runner = CliRunner()
    added = runner.invoke(main, ["users", "add", "lena", "--role", "viewer", "--users", path],
                          input=f"{PASSWORD}\n{PASSWORD}\n")
    assert added.exit_code == 0, added.output
    assert PASSWORD not in added.output  # the prompt does not echo it
    piped = runner.invoke(main, ["users", "add", "omar", "--users", path, "--password-stdin"], input=f"{PASSWORD}\n")
    assert piped.exit_code == 0, piped.output
    listed = runner.invoke(main, ["users", "list", "--users", path])
    assert listed.stdout.split() == ["lena", "viewer", "omar", "analyst"]
    refused = runner.invoke(main, ["users", "passwd", "nobody", "--users", path, "--password-stdin"],
                            input=f"{PASSWORD}\n")
    assert refused.exit_code == 1 and "no user nobody" in refused.output
    assert runner.invoke(main, ["users", "remove", "lena", "--users", path]).exit_code == 0


def logins(users_file, store, clock):
    return Authenticator(UserBook(users_file), lambda *event: record_server_event(store, *event),
                         LoginThrottle(limit=3, window=60, clock=clock))


def test_wrong_passwords_are_refused_and_every_attempt_is_logged(users_file, store):
    auth = logins(users_file, store, clock=lambda: 0.0)
    assert asyncio.run(auth.login("amira", PASSWORD)) is True
    assert auth.check("amira", "wrong password", "10.0.0.7") is False
    assert auth.check("mallory", PASSWORD, "10.0.0.7") is False
    events = [(e.actor, e.action, e.client) for e in reversed(server_events(store))]
    assert events == [("amira", "login", ""), ("amira", "login-failed", "10.0.0.7"),
                      ("mallory", "login-failed", "10.0.0.7")]
    assert server_events(store, actor="mallory")[0].detail == {"known_user": False}


def test_failed_logins_are_throttled_per_name_and_per_address(users_file, store):
    now = [0.0]
    auth = logins(users_file, store, clock=lambda: now[0])
    for _ in range(3):
        assert not auth.check("amira", "guess", "10.0.0.9")
    assert not auth.check("amira", PASSWORD, "10.0.0.1")  # the right password is refused while throttled
    assert not auth.check("vik", "viewer password", "10.0.0.9")  # so is that address, for any name
    assert auth.check("vik", "viewer password", "10.0.0.2")
    assert [e.action for e in server_events(store, limit=3)] == ["login", "login-throttled", "login-throttled"]
    now[0] = 61.0  # the failures have aged out
    assert auth.check("amira", PASSWORD, "10.0.0.9")


def test_the_signed_in_user_signs_every_change_whatever_was_typed(store, photo):
    with acting_as(SignedIn("amira", "analyst")):
        saved = service.analyze_and_save(store, service.open_detector("evidence"), str(photo), "Typed Impostor")
        store.update_case(saved.case_id, "someone else", final_verdict="real", final_note="checked")
    detail = store.get_case(saved.case_id)
    assert {event.actor for event in detail.history} == {"amira"}
    assert store.get_analysis(saved.analysis_id).started_by == "amira"


def test_a_viewer_is_refused_any_change_but_may_export(store, photo, tmp_path):
    saved = service.analyze_and_save(store, service.open_detector("evidence"), str(photo), "Desk")
    with acting_as(SignedIn("vik", "viewer")):
        with pytest.raises(StoreError, match="vik is a viewer") as refused:
            store.update_case(saved.case_id, "vik", final_verdict="real")
        assert refused.value.code == "forbidden"
        with pytest.raises(service.WorkbenchError, match="viewer"):
            service.analyze_and_save(store, service.open_detector("evidence"), str(photo), "vik")
        exported = store.export_bundle(saved.case_id, tmp_path / "case.zoomin", "vik")
    assert exported and store.get_case(saved.case_id).summary.final_verdict is None


def test_the_web_session_names_who_acts_and_nobody_may_change_anything(users_file, store, monkeypatch):
    from gradio.context import LocalContext

    class Request:
        username = "vik"

    use_session_source(gradio_session_user(UserBook(users_file)))
    try:
        token = LocalContext.request.set(Request())
        assert signed_in() == SignedIn("vik", "viewer")
        Request.username = "removed-user"
        assert signed_in() == NOBODY
        with pytest.raises(StoreError, match="viewer"):
            store.create_case("a case", "Typed Name")
        LocalContext.request.reset(token)
        assert signed_in() == NOBODY  # no request at all: still nobody while logins apply
    finally:
        use_session_source(None)
    assert signed_in() is None and store.create_case("from the command line", "cli user").created_by == "cli user"
