"""Every knob of the vision-language backends, typed and checked in one place.

`VLMSettings` drives the protocol both backends share (image size sent to the
model, regions, crops, tokens); `LoadSettings` is what identifies one loaded
local model (the process-wide cache is keyed by it); `RemoteSettings` names an
OpenAI-compatible server.  Environment variables fill what the caller left
unset, so a newsroom can point every workstation at one server by config.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Literal

Quantization = Literal["auto", "4bit", "8bit", "none"]
Device = Literal["auto", "cpu", "cuda"]
DType = Literal["auto", "bfloat16", "float16", "float32"]
BoxUnits = Literal["auto", "pixels", "normalized-1000", "fraction"]

QUANTIZATIONS: tuple[str, ...] = ("auto", "4bit", "8bit", "none")
DEVICES: tuple[str, ...] = ("auto", "cpu", "cuda")
DTYPES: tuple[str, ...] = ("auto", "bfloat16", "float16", "float32")
BOX_UNITS: tuple[str, ...] = ("auto", "pixels", "normalized-1000", "fraction")

GPU_DEFAULT_MODEL = "Qwen/Qwen2.5-VL-7B-Instruct"
CPU_DEFAULT_MODEL = "Qwen/Qwen2.5-VL-3B-Instruct"

# Qwen2.5-VL sees images in 28x28 pixel cells (14 px patches merged 2x2), Qwen3-VL
# and Qwen3.5 in 32x32 ones (families.py holds each family's cell and bounds).  The
# settings' defaults and lower bounds are stated in Qwen2.5-VL cells, the smallest.
QWEN_CELL = 28
MIN_IMAGE_PIXELS = 4 * QWEN_CELL * QWEN_CELL


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name, "").strip()
    return value or default


def default_model_id(device: str) -> str:
    """The 7B instruct model where a CUDA GPU runs it, the 3B one on CPU."""
    return GPU_DEFAULT_MODEL if device == "cuda" else CPU_DEFAULT_MODEL


@dataclass(frozen=True)
class VLMSettings:
    """How the two-stage protocol talks to the model, whichever transport carries it.

    max_image_pixels: the full image is resized to at most this many pixels
      (in whole 28 px cells) before the model sees it; 1280 cells by default,
      Qwen2.5-VL's own default upper bound for a single image.
    zoom_size: the longest side, in pixels, each region crop is resized to
      (336 px = 144 visual tokens per crop; docs/vlm-backend.md has the cost).
    crop_margin: context added around each region, as a fraction of its size.
    evidence_context: give the evidence engine's provenance, metadata and
      watermark findings to the model and keep them beside its answer.
    box_units: how the model writes boxes; "auto" follows the model family
      (families.py): 0-1000 for Qwen3-VL and Qwen3.5; for Qwen2.5-VL it reads absolute
      pixels of its input and recognises 0-1000 or 0-1 normalised boxes.
    """

    max_image_pixels: int = 1280 * QWEN_CELL * QWEN_CELL
    max_new_tokens: int = 512
    min_new_tokens: int = 0
    max_regions: int = 3
    crop_margin: float = 0.25
    zoom_size: int = 336
    evidence_context: bool = True
    box_units: BoxUnits = "auto"

    def __post_init__(self) -> None:
        if self.max_image_pixels < MIN_IMAGE_PIXELS:
            raise ValueError(f"max image pixels must be at least {MIN_IMAGE_PIXELS}, got {self.max_image_pixels}")
        if not 1 <= self.max_new_tokens <= 32768:
            raise ValueError(f"max new tokens must be between 1 and 32768, got {self.max_new_tokens}")
        if not 0 <= self.min_new_tokens <= self.max_new_tokens:
            raise ValueError("min new tokens must be between 0 and max new tokens")
        if not 1 <= self.max_regions <= 16:
            raise ValueError(f"the number of regions must be between 1 and 16, got {self.max_regions}")
        if not 0.0 <= self.crop_margin <= 2.0:
            raise ValueError(f"crop margin must be between 0 and 2 (a fraction of the box), got {self.crop_margin}")
        if not 2 * QWEN_CELL <= self.zoom_size <= 2048:
            raise ValueError(f"zoom size must be between {2 * QWEN_CELL} and 2048 pixels, got {self.zoom_size}")
        if self.box_units not in BOX_UNITS:
            raise ValueError(f"box units must be one of {BOX_UNITS}, got {self.box_units!r}")


@dataclass(frozen=True)
class LoadSettings:
    """Which weights, how quantized, on which device: one loaded model per value.

    model: a Hugging Face id ("Qwen/Qwen2.5-VL-3B-Instruct") or a local folder;
    None picks the default for the device.
    """

    model: str | None = None
    revision: str | None = None
    quantization: Quantization = "auto"
    device: Device = "auto"
    dtype: DType = "auto"

    def __post_init__(self) -> None:
        if self.quantization not in QUANTIZATIONS:
            raise ValueError(f"quantization must be one of {QUANTIZATIONS}, got {self.quantization!r}")
        if self.device not in DEVICES:
            raise ValueError(f"device must be one of {DEVICES}, got {self.device!r}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {DTYPES}, got {self.dtype!r}")

    @classmethod
    def from_env(cls, model: str | None = None, quantization: str | None = None, device: str | None = None,
                 revision: str | None = None, dtype: str | None = None) -> "LoadSettings":
        """Explicit values win; ZOOMIN_VLM_MODEL / _QUANT / _DEVICE / _REVISION / _DTYPE fill the rest."""
        return cls(model=model or _env("ZOOMIN_VLM_MODEL"),
                   revision=revision or _env("ZOOMIN_VLM_REVISION"),
                   quantization=quantization or _env("ZOOMIN_VLM_QUANT", "auto"),
                   device=device or _env("ZOOMIN_VLM_DEVICE", "auto"),
                   dtype=dtype or _env("ZOOMIN_VLM_DTYPE", "auto"))


@dataclass(frozen=True)
class RemoteSettings:
    """An OpenAI-compatible chat-completions server (vLLM, SGLang, LM Studio, Ollama).

    base_url ends before /chat/completions, e.g. "http://gpu-box:8000/v1".
    family: the served model's family (families.py names); None reads it from
      the model name (a name that names none: Qwen2.5-VL, noted in the result).
    timeout: seconds for one request; retries: extra attempts after a
    connection error, a timeout or a 429/5xx answer (never after 4xx).
    """

    base_url: str
    model: str
    api_key: str | None = field(default=None, repr=False)
    timeout: float = 120.0
    retries: int = 2
    retry_backoff: float = 1.0
    request_logprobs: bool = True
    family: str | None = None

    def __post_init__(self) -> None:
        if not self.base_url.startswith(("http://", "https://")):
            raise ValueError(f"the server's base URL must start with http:// or https://, got {self.base_url!r}")
        if not self.model:
            raise ValueError("name the model the server serves (--model NAME or ZOOMIN_REMOTE_MODEL)")
        if self.timeout <= 0:
            raise ValueError("the request timeout must be positive")
        if not 0 <= self.retries <= 10:
            raise ValueError(f"retries must be between 0 and 10, got {self.retries}")
        self.model_family  # noqa: B018 - an unknown --family is refused here, with the names to use

    @property
    def model_family(self):
        """(families.ModelFamily, note): as named, else from the model name, else assumed with a note."""
        from models.vlm.families import for_remote

        return for_remote(self.model, self.family)

    @classmethod
    def from_env(cls, base_url: str | None = None, model: str | None = None, api_key: str | None = None,
                 timeout: float | None = None, retries: int | None = None,
                 retry_backoff: float | None = None, family: str | None = None) -> "RemoteSettings":
        """Explicit values win; ZOOMIN_REMOTE_BASE_URL / _MODEL / _API_KEY (or OPENAI_API_KEY) / _FAMILY
        fill the rest."""
        url = base_url or _env("ZOOMIN_REMOTE_BASE_URL") or _env("OPENAI_BASE_URL")
        if not url:
            raise ValueError("the remote backend needs a server: pass --base-url URL "
                             "(e.g. http://localhost:8000/v1) or set ZOOMIN_REMOTE_BASE_URL")
        return cls(base_url=url.rstrip("/"), model=model or _env("ZOOMIN_REMOTE_MODEL", ""),
                   api_key=api_key or _env("ZOOMIN_REMOTE_API_KEY") or _env("OPENAI_API_KEY"),
                   timeout=timeout if timeout is not None else float(_env("ZOOMIN_REMOTE_TIMEOUT", "120")),
                   retries=retries if retries is not None else int(_env("ZOOMIN_REMOTE_RETRIES", "2")),
                   retry_backoff=retry_backoff if retry_backoff is not None else 1.0,
                   family=family or _env("ZOOMIN_REMOTE_FAMILY"))
