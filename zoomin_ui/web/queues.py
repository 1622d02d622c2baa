"""One queue per backend for the work that runs a detector (analyse, ask,
re-run).  Each backend does one request at a time, so a model busy on the
GPU never makes an evidence-engine analysis wait, and a request waiting for
its backend shows its place in that backend's queue.

Gradio fixes an event's queue when the event is wired, but the backend is
chosen on the page later.  So the button does no work itself: it stamps a
hidden trigger belonging to the chosen backend (at once, never waiting), and the
trigger's change event, wired to that backend's queue, does the work.
Where only one backend is offered (the evidence engine alone, the usual
case) there is nothing to choose: the button's event is that queue's work.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable, Sequence
from typing import Any

import gradio as gr

CONCURRENCY_PER_BACKEND = 1


def queue_id(backend: str) -> str:
    return f"detector-{backend}"


def wire_detector_work(starters: Sequence[Callable[..., Any]], backend: gr.Dropdown, backends: Sequence[str],
                       handler: Callable[..., Any], inputs: list[Any], outputs: list[Any],
                       **event_options: Any) -> None:
    """Run `handler(*inputs)` in the queue of the backend chosen in `backend`
    when one of `starters` (event listeners such as `button.click`) fires.
    `backend` must be one of `inputs`; the handler receives the backend the
    request was queued for, even if the page's choice changes meanwhile.
    `event_options` go to the working event (show_progress_on=...).  Its
    trigger mode is "once": a second press while the work is pending (a
    double click) is dropped by the page, not queued behind the first."""
    position = inputs.index(backend)
    if len(backends) == 1:
        # One backend offered: its queue is known when the event is wired, so the
        # starters do the work themselves, without the hop through a trigger (one
        # Gradio event round trip less between pressing Analyse and the work starting).
        for start in starters:
            start(_for_backend(handler, backends[0], position), inputs, outputs,
                  concurrency_id=queue_id(backends[0]), concurrency_limit=CONCURRENCY_PER_BACKEND,
                  trigger_mode="once", **event_options)
        return
    triggers = {name: gr.State(0) for name in backends}
    names = list(triggers)

    def dispatch(choice: str) -> list[Any]:
        stamp = time.monotonic_ns()  # a new value each time, so the change event always fires
        return [stamp if name == choice else gr.skip() for name in names]

    for start in starters:
        # Queued (Gradio tells the page which states changed only on its queue's path), but never waiting.
        start(dispatch, backend, [triggers[name] for name in names], concurrency_limit=None,
              show_progress="hidden")
    for name, trigger in triggers.items():
        trigger.change(_for_backend(handler, name, position), inputs, outputs, concurrency_id=queue_id(name),
                       concurrency_limit=CONCURRENCY_PER_BACKEND, trigger_mode="once", **event_options)


def _for_backend(handler: Callable[..., Any], name: str, position: int) -> Callable[..., Any]:
    """`handler` with its backend argument fixed to `name`, keeping what
    Gradio reads from its signature: generator or not, a progress parameter."""
    def arguments(args: tuple[Any, ...]) -> list[Any]:
        values = list(args)
        values[position] = name
        return values

    # Gradio reads the wrapper's own signature (not __wrapped__, which is not set): *args take the inputs.
    takes_progress = "progress" in inspect.signature(handler).parameters
    if inspect.isgeneratorfunction(handler):
        def stream(*args: Any, progress: gr.Progress = gr.Progress()):  # noqa: B008 (Gradio's idiom)
            yield from handler(*arguments(args), **({"progress": progress} if takes_progress else {}))
        wrapper: Callable[..., Any] = stream
    elif takes_progress:
        def run_with_progress(*args: Any, progress: gr.Progress = gr.Progress()):  # noqa: B008
            return handler(*arguments(args), progress=progress)
        wrapper = run_with_progress
    else:
        def run(*args: Any):
            return handler(*arguments(args))
        wrapper = run
    wrapper.__name__ = f"{getattr(handler, '__name__', 'work')}_{name}"  # the event's API name
    return wrapper
