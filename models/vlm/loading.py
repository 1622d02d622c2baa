"""Loading a vision-language checkpoint of a supported family (families.py:
Qwen2.5-VL, Qwen3-VL, Qwen3.5, read from its config.json): the one function the backend, the command
line, the tests and the benchmark all use.

From a Hugging Face id (served from the local cache; fetched only when the
hub is reachable and HF_HUB_OFFLINE is not set, or by `zoomin models pull`)
or from a local folder; 4-bit NF4 with double quantization by default where
bitsandbytes supports the device, 8-bit or unquantized on request; CUDA when
present, CPU otherwise.  One model per settings per process, shared, loaded
under a lock.  Every failure becomes DetectorUnavailable with a message that
says what is missing and what to do.
"""

from __future__ import annotations

import hashlib
import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from models.detector import DetectorUnavailable
from models.heap import release_free_memory
from models.vlm.adapter import (adapter_base_model, check_adapter_family, is_adapter_folder, merge_adapter,
                                processor_folder)
from models.vlm.families import DEFAULT_FAMILY, ModelFamily, UnknownFamily, for_checkpoint
from models.vlm.fingerprint import weights_fingerprint
from models.vlm.settings import LoadSettings, default_model_id

# Qwen's own quantized releases keep the vision tower in full precision; it is
# a small share of the weights and the part most sensitive to rounding.
# transformers matches these from the start of a module's full name
# ("model.visual.blocks.0.attn.qkv") or as its suffix.
NOT_QUANTIZED = ["lm_head", "model.visual"]
_OFFLINE_VALUES = {"1", "true", "yes", "on"}


@dataclass
class LoadedModel:
    """A ready model and processor, and everything a report must say about them."""

    model: Any
    processor: Any
    model_id: str
    folder: Path
    revision: str | None
    weights_sha256: str
    quantization: str
    device: str
    dtype: str
    load_seconds: float
    parameters: int
    family: ModelFamily = DEFAULT_FAMILY
    # Generation mutates per-call state on the model (Qwen2.5-VL keeps its
    # rope offsets on the module), so one generate at a time per model.
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def quantization_label(self) -> str:
        return {"4bit": "nf4", "8bit": "int8", "none": self.dtype}[self.quantization]

    def describe(self) -> dict[str, Any]:
        from models.vlm.fingerprint import software_versions

        return {
            "model_id": self.model_id, "model_family": self.family.name,
            "model_folder": str(self.folder), "revision": self.revision,
            "weights_sha256": self.weights_sha256, "quantization": self.quantization_label,
            "quantized_modules_skipped": not_quantized(self.family) if self.quantization != "none" else [],
            **({"quantization_note": self.family.quantization_note}
               if self.quantization != "none" and self.family.quantization_note else {}),
            "device": self.device, "dtype": self.dtype, "parameters": self.parameters,
            "load_seconds": round(self.load_seconds, 3), "software": software_versions(),
        }


_LOADED: dict[tuple, LoadedModel] = {}
_LOADING = threading.Lock()


def hub_offline() -> bool:
    """HF_HUB_OFFLINE as set now (huggingface_hub reads it once, at import)."""
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in _OFFLINE_VALUES:
        return True
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def resolve(settings: LoadSettings) -> LoadSettings:
    """Settings with every "auto" decided for this machine."""
    import torch

    device = settings.device
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    elif device == "cuda" and not torch.cuda.is_available():
        raise DetectorUnavailable("--device cuda was asked for, but no CUDA GPU is visible to torch "
                                  f"(torch {torch.__version__}); use --device cpu or run on a machine with a GPU")
    quantization = settings.quantization
    if quantization == "auto":
        quantization = "4bit" if _bitsandbytes_problem(device) is None else "none"
    elif quantization != "none" and (problem := _bitsandbytes_problem(device)):
        raise DetectorUnavailable(f"{quantization} quantization is not available on {device}: {problem}; "
                                  "use --quant none")
    dtype = settings.dtype
    if dtype == "auto":
        if device == "cuda":
            dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        else:  # bitsandbytes computes in float32 on CPU, and CPUs without native bfloat16
            # (most desktop CPUs) multiply float32 several times faster (docs/vlm-backend.md)
            dtype = "float32"
    return LoadSettings(model=settings.model or default_model_id(device), revision=settings.revision,
                        quantization=quantization, device=device, dtype=dtype)


def _bitsandbytes_problem(device: str) -> str | None:
    try:
        import bitsandbytes  # noqa: F401
    except Exception as exc:  # a broken native library raises more than ImportError
        return f"bitsandbytes cannot be imported ({type(exc).__name__}: {exc})"
    return None


def load_model(settings: LoadSettings) -> LoadedModel:
    """The model for `settings`, loaded once per process and shared."""
    resolved = resolve(settings)
    key = (resolved.model, resolved.revision, resolved.quantization, resolved.device, resolved.dtype)
    with _LOADING:
        if key not in _LOADED:
            _LOADED[key] = _load(resolved)
        return _LOADED[key]


def unload_all() -> None:
    """Forget every loaded model (tests, and the benchmark between configurations)."""
    with _LOADING:
        _LOADED.clear()


def _load(settings: LoadSettings) -> LoadedModel:
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor, BitsAndBytesConfig

    start = time.perf_counter()
    adapter = Path(settings.model).expanduser().resolve() if is_adapter_folder(settings.model) else None
    base = adapter_base_model(adapter) if adapter else settings.model
    folder, revision = locate_weights(base, settings.revision)
    family = checkpoint_family(folder)
    if adapter:
        check_adapter_family(adapter, family, base)
    dtype = getattr(torch, settings.dtype)
    options: dict[str, Any] = {"dtype": dtype, "device_map": settings.device, "local_files_only": True}
    skipped = not_quantized(family)
    if settings.quantization == "4bit":
        options["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
            bnb_4bit_compute_dtype=dtype, llm_int8_skip_modules=skipped)
    elif settings.quantization == "8bit":
        options["quantization_config"] = BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skipped)
    _say(f"loading {settings.model} ({settings.quantization}, {settings.dtype}, {settings.device}) from {folder}")
    try:
        model = AutoModelForImageTextToText.from_pretrained(folder, **options)
        model = merge_adapter(model, adapter) if adapter else model  # a `zoomin train` output folder
        processor = AutoProcessor.from_pretrained(processor_folder(adapter, folder), local_files_only=True)
    except (torch.OutOfMemoryError, MemoryError) as exc:
        raise DetectorUnavailable(_out_of_memory(settings, exc)) from None
    except RuntimeError as exc:
        if "out of memory" in str(exc).lower() or "can't allocate memory" in str(exc).lower():
            raise DetectorUnavailable(_out_of_memory(settings, exc)) from None
        raise DetectorUnavailable(f"cannot load the model from {folder}: {exc}") from None
    except ImportError as exc:
        raise DetectorUnavailable(f"a package the model needs is missing: {exc}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DetectorUnavailable(f"{folder} is not a usable {family.title} checkpoint: {type(exc).__name__}: "
                                  f"{exc}") from None
    model.eval()
    release_free_memory()  # the full-precision weights read and dropped while quantizing (models/heap.py)
    fingerprint = weights_fingerprint(folder)
    if adapter:  # base and adapter together identify the weights
        fingerprint = hashlib.sha256(f"{fingerprint}+{weights_fingerprint(adapter)}".encode()).hexdigest()
        folder = adapter
    seconds = time.perf_counter() - start
    _say(f"model ready in {seconds:.1f} s")
    if settings.quantization != "none" and family.quantization_note:
        _say(f"{family.title}, {settings.quantization}: {family.quantization_note}")
    return LoadedModel(model=model, processor=processor, model_id=settings.model, folder=folder, revision=revision,
                       weights_sha256=fingerprint, quantization=settings.quantization, device=settings.device,
                       dtype=settings.dtype, load_seconds=seconds,
                       parameters=sum(p.numel() for p in model.parameters()), family=family)


def not_quantized(family: ModelFamily) -> list[str]:
    """Modules left in full precision under 4/8-bit: the vision tower, lm_head, and the family's own."""
    return [*NOT_QUANTIZED, *family.keep_unquantized]


def checkpoint_family(folder: Path) -> ModelFamily:
    """The checkpoint's family, or DetectorUnavailable naming the supported ones."""
    try:
        return for_checkpoint(folder)
    except UnknownFamily as exc:
        raise DetectorUnavailable(f"{folder}: {exc}") from None


def _out_of_memory(settings: LoadSettings, exc: BaseException) -> str:
    hint = ("try --quant 4bit" if settings.quantization != "4bit" else
            "try a smaller model (e.g. --model Qwen/Qwen2.5-VL-3B-Instruct)")
    return f"not enough {'GPU ' if settings.device == 'cuda' else ''}memory to load {settings.model}: {hint} ({exc})"


def looks_like_path(model: str) -> bool:
    """A hub id is "owner/name"; anything else with a separator is meant as a folder."""
    return model.startswith(("/", ".", "~")) or model.count("/") > 1 or os.sep in model and os.sep != "/"


def locate_weights(model: str, revision: str | None = None) -> tuple[Path, str | None]:
    """(folder holding the checkpoint, hub revision) for a folder or a hub id;
    downloads only when the hub is reachable and not switched off."""
    folder = Path(model).expanduser()
    if folder.is_dir():
        if not (folder / "config.json").is_file():
            raise DetectorUnavailable(f"{folder} is a folder but holds no config.json: it is not a model checkpoint")
        return folder, revision
    if looks_like_path(model):
        raise DetectorUnavailable(f"no model folder at {model}: pass --model with a folder that holds a "
                                  "Qwen2.5-VL, Qwen3-VL or Qwen3.5 checkpoint (config.json, *.safetensors, the "
                                  "processor files), "
                                  "or a Hugging Face id")
    from huggingface_hub import snapshot_download

    try:
        cached = Path(snapshot_download(model, revision=revision, local_files_only=True))
        return cached, cached.name
    except Exception:  # not (fully) in the cache; below we say why and what to do
        pass
    how = (f"run `zoomin models pull {model}` on a connected machine (or copy its Hugging Face cache here), "
           "or pass --model /path/to/folder")
    if hub_offline():
        raise DetectorUnavailable(f"model {model} is not in the local cache and the hub is offline "
                                  f"(HF_HUB_OFFLINE): {how}")
    _say(f"{model} is not in the local cache; downloading it from the Hugging Face hub")
    try:
        return pull_model(model, revision), revision
    except DetectorUnavailable as exc:
        raise DetectorUnavailable(f"model {model} is not in the local cache and could not be downloaded "
                                  f"({exc}): {how}") from None


def pull_model(model: str, revision: str | None = None) -> Path:
    """Download a checkpoint into the Hugging Face cache (progress on stderr)."""
    if hub_offline():
        raise DetectorUnavailable(f"cannot download {model}: the hub is switched off (HF_HUB_OFFLINE is set)")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(model, revision=revision, etag_timeout=20))
    except Exception as exc:  # network, 401/404, gated repository: one message for the analyst
        raise DetectorUnavailable(f"downloading {model} failed: {type(exc).__name__}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else "no details"


def _say(message: str) -> None:
    if os.environ.get("ZOOMIN_QUIET", "") in ("", "0"):
        print(f"zoomin: {message}", file=sys.stderr, flush=True)
