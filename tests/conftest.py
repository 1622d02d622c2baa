"""Session fixtures shared by several test files."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_qwen(tmp_path_factory):
    """A tiny randomly initialised Qwen2.5-VL checkpoint folder (a few MB), built once per session.

    The weights-hash memo goes to a temporary cache folder, not the user's."""
    from tests.tiny_qwen import tiny_checkpoint

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.mktemp("xdg-cache")))
        patch.setenv("ZOOMIN_QUIET", "1")
        yield tiny_checkpoint(tmp_path_factory.mktemp("models"))
