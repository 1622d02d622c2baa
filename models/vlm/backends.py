"""The two vision-language backends as the registry builds them from options.

"vlm":    a Qwen2.5-VL, Qwen3-VL or Qwen3.5 checkpoint run here (transformers, bitsandbytes);
          its family is read from its config.json.
"remote": such a model behind an OpenAI-compatible server; its family from the
          model name or `family` (--family).
Options are the command line's; None leaves a setting at its default or
environment value.
"""

from __future__ import annotations

from typing import Any

from models.detector import DetectorUnavailable
from models.vlm.protocol import VisionLanguageDetector
from models.vlm.settings import LoadSettings, RemoteSettings, VLMSettings


def _protocol_settings(options: dict[str, Any]) -> VLMSettings:
    chosen = {key: value for key, value in options.items() if value is not None}
    try:
        return VLMSettings(**chosen)
    except TypeError as exc:
        raise ValueError(f"unknown option for a vision-language backend: {exc}") from None


class LocalVLM(VisionLanguageDetector):
    """A local checkpoint: 4-bit by default where bitsandbytes runs, CUDA when present."""

    def __init__(self, model: str | None = None, quant: str | None = None, device: str | None = None,
                 dtype: str | None = None, revision: str | None = None, trust_anchors: str | None = None,
                 family: str | None = None, **options: Any):
        from models.vlm.loading import load_model
        from models.vlm.local import LocalTransport

        try:
            load = LoadSettings.from_env(model=model, quantization=quant, device=device, revision=revision,
                                         dtype=dtype)
        except ValueError as exc:
            raise DetectorUnavailable(str(exc)) from None
        settings = _protocol_settings(options)
        loaded = load_model(load)
        if family and family != loaded.family.name:  # a local checkpoint says its family itself
            raise DetectorUnavailable(f"--family {family} was given, but {loaded.model_id} is a "
                                      f"{loaded.family.title} checkpoint ({loaded.family.name})")
        super().__init__("vlm", LocalTransport(loaded, settings.max_image_pixels), settings,
                         load_seconds=loaded.load_seconds, trust_anchors=trust_anchors)
        self.loaded = loaded


class RemoteVLM(VisionLanguageDetector):
    """The same protocol against an OpenAI-compatible chat-completions server."""

    def __init__(self, base_url: str | None = None, model: str | None = None, api_key: str | None = None,
                 timeout: float | None = None, retries: int | None = None, retry_backoff: float | None = None,
                 trust_anchors: str | None = None, concurrency: int | None = None, family: str | None = None,
                 **options: Any):
        from models.vlm.remote import ChatCompletionsTransport

        for local_only in ("quant", "device", "dtype", "revision"):
            if options.pop(local_only, None) not in (None, "auto"):
                raise DetectorUnavailable(f"--{local_only} applies to the local vlm backend, not to a server")
        try:
            remote = RemoteSettings.from_env(base_url=base_url, model=model, api_key=api_key, timeout=timeout,
                                             retries=retries, retry_backoff=retry_backoff, family=family)
        except ValueError as exc:
            raise DetectorUnavailable(str(exc)) from None
        super().__init__("remote", ChatCompletionsTransport(remote, concurrency=concurrency or 1),
                         _protocol_settings(options),
                         trust_anchors=trust_anchors)
        self.remote = remote
