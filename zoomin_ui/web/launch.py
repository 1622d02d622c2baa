"""`python app.py`: start the workbench on this machine.

Safe by default: loopback only, no run history, uploads capped in size and
checked by content, files served from the exports folder alone (never the
database, the evidence store or the keys), nothing but the login page
before login.  Binding to any
other address needs a login (--auth or ZOOMIN_AUTH); without one the app
refuses to start."""

from __future__ import annotations

import os
from pathlib import Path

import click

from models.registry import BACKENDS
from zoomin_ui.web.security import (
    DEFAULT_HOST,
    MAX_UPLOAD,
    LaunchRefused,
    LoginGate,
    check_bind,
    private_paths,
    resolve_auth,
    served_folders,
)


def backend_options(model: str | None, quant: str | None, device: str | None,
                    base_url: str | None) -> dict[str, dict[str, str]]:
    """The vision-language options given as flags, per backend."""
    if base_url:
        return {"remote": {k: v for k, v in (("base_url", base_url), ("model", model)) if v}}
    local = {k: v for k, v in (("model", model), ("quant", quant), ("device", device)) if v}
    return {"vlm": local} if local else {}


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--host", default=DEFAULT_HOST, show_default=True,
              help="Address to serve on; anything but loopback requires --auth.")
@click.option("--port", type=click.IntRange(1, 65535), default=7860, show_default=True)
@click.option("--auth", default=None, metavar="USER:PASS", help="Require this login (or set ZOOMIN_AUTH).")
@click.option("--users", "users_file", type=click.Path(dir_okay=False), default=None,
              help="One login per analyst from this file (or ZOOMIN_USERS; manage it with `zoomin users`): "
                   "the signed-in user signs every change, a viewer only reads and exports.")
@click.option("--data-dir", type=click.Path(file_okay=False), default=None,
              help="The case store's folder (default: ZOOMIN_HOME or the user's data folder).")
@click.option("--backend", type=click.Choice(sorted(BACKENDS)), default="evidence", show_default=True,
              help="The backend selected when the page opens.")
@click.option("--model", default=None, help="vlm: model id or folder; remote: the served model's name.")
@click.option("--quant", type=click.Choice(["4bit", "8bit", "none"]), default=None, help="vlm: quantization.")
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default=None, help="vlm: where the model runs.")
@click.option("--base-url", default=None, help="remote: OpenAI-compatible base URL (or ZOOMIN_REMOTE_BASE_URL).")
def serve(host: str, port: int, auth: str | None, users_file: str | None, data_dir: str | None, backend: str,
          model: str | None, quant: str | None, device: str | None, base_url: str | None) -> None:
    """Start the ZoomIn analyst workbench (a local web page)."""
    from storage.config import data_home
    from zoomin_ui.users import UsersError, users_path

    try:
        users = users_path(users_file)
        login = resolve_auth(auth)
        if users is not None and login is not None:
            raise LaunchRefused("give --users (one login per analyst) or --auth (one shared login), not both")
        check_bind(host, login or users)
    except LaunchRefused as exc:
        raise click.ClickException(str(exc)) from None
    from storage.private import private_folder

    home = data_home(data_dir)
    try:
        private_folder(home)  # 0700 before Gradio or the store put anything in it
    except OSError as exc:
        raise click.ClickException(f"cannot create the data folder {home}: {exc.strerror or exc}") from None
    # Before Gradio loads: its upload cache lives in the data folder too, and
    # nothing is reported to the network.
    os.environ.setdefault("GRADIO_TEMP_DIR", str(Path(home) / "web-uploads"))
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    from zoomin_ui.service import WorkbenchError
    from zoomin_ui.web.detectors import BackendConfig
    from zoomin_ui.web.layout import PAGE_CSS, build_app

    try:
        config = BackendConfig.from_env(backend, **backend_options(model, quant, device, base_url))
        demo = build_app(home, backends=config)
    except WorkbenchError as exc:
        raise click.ClickException(str(exc)) from None
    from starlette.middleware import Middleware

    try:
        gate, on_logout = newsroom_logins(users, home) if users is not None else (login, None)
    except (UsersError, WorkbenchError) as exc:
        raise click.ClickException(str(exc)) from None
    _, url, _ = demo.launch(server_name=host, server_port=port, auth=gate, allowed_paths=served_folders(home),
                            blocked_paths=private_paths(home), css=PAGE_CSS,
                            app_kwargs={"middleware": [Middleware(LoginGate, on_logout=on_logout)]} if gate else None,
                            max_file_size=MAX_UPLOAD, run_history=False, footer_links=["gradio"],
                            show_error=False, ssr_mode=False, enable_monitoring=False, mcp_server=False,
                            pwa=False, inbrowser=False, quiet=True, prevent_thread_lock=True)
    # One line scripts and tests can wait for.
    click.echo(f"Running on {url.rstrip('/')} (data folder {home})", nl=True)
    demo.block_thread()


def newsroom_logins(users: Path, home: Path):
    """Gradio's auth for one login per analyst (the users file, the server log in
    the case store, and the signed-in user as who acts in every event), and
    what logs a log-out."""
    from storage.identity import use_session_source
    from storage.server_events import record_server_event
    from zoomin_ui.service import open_store
    from zoomin_ui.users import Authenticator, UserBook, gradio_session_user

    book = UserBook(users)
    log_store = open_store(str(home))

    def log(actor: str, action: str, client: str, detail: dict | None) -> None:
        record_server_event(log_store, actor, action, client, detail)

    def logged_out(actor: str, client: str) -> None:
        try:
            log(actor, "logout", client, None)
        except Exception as exc:  # the session ends all the same: keeping it open would be worse
            click.echo(f"the log-out of {actor} could not be written to the server log: {exc}", err=True)

    use_session_source(gradio_session_user(book))
    return Authenticator(book, log).login, logged_out
