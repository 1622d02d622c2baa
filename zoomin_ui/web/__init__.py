"""The analyst workbench, a Gradio Blocks app (see docs/workbench.md).

`build_app` is imported on first use so the service-layer modules in this
package (regions, zoom, provenance, exports) load without Gradio."""

from __future__ import annotations

from typing import Any


def build_app(*args: Any, **kwargs: Any) -> Any:
    from zoomin_ui.web.layout import build_app as build

    return build(*args, **kwargs)


__all__ = ["build_app"]
