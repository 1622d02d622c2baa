"""Generator settings written as text: PNG/WebP/GIF text chunks and JPEG
comments.  parse_infotext reads AUTOMATIC1111/Forge/SD.Next/Fooocus infotext
(also used for EXIF UserComment); read_text_chunks adds NovelAI, InvokeAI,
SwarmUI/Fooocus JSON 'parameters', Midjourney job descriptions, ComfyUI graphs
(via comfyui_graph) and software/caption chunks naming a tool."""

from __future__ import annotations

import json
import re
from typing import Any

from models.evidence.comfyui_graph import comfyui_evidence
from models.evidence.metadata_common import (
    MAX_PARAM_LINE,
    MAX_TEXT,
    MIDJOURNEY_JOB,
    ai_evidence,
    load_json,
    scalar,
)
from models.evidence.tool_names import named_tool
from models.image_input import LoadedImage
from models.types import Evidence

_JSON_FIELDS = ("Civitai resources", "Civitai metadata", "Hashes")
_DECODER = json.JSONDecoder()
_INFOTEXT_KEY = re.compile(r"\s*(\w[\w \-/.]{0,60}?):\s*")
_QUOTED = re.compile(r'"((?:\\.|[^\\"])*)"')
_INFOTEXT_FIELDS = {"Model": "model", "Model hash": "model_hash", "Steps": "steps", "Sampler": "sampler",
                    "Schedule type": "scheduler", "CFG scale": "cfg_scale", "Seed": "seed", "Size": "size",
                    "VAE": "vae", "VAE hash": "vae_hash", "Lora hashes": "lora_hashes", "TI hashes": "ti_hashes",
                    "Denoising strength": "denoising_strength", "Hires upscaler": "hires_upscaler",
                    "Version": "version", "App": "app"}


def parse_infotext(text: str) -> dict[str, Any] | None:
    """AUTOMATIC1111-style infotext: prompt, 'Negative prompt:' and a 'Steps: ...' line."""
    lines = text[:MAX_TEXT].strip().splitlines()
    index = next((i for i in range(len(lines) - 1, -1, -1) if re.match(r"\s*Steps:\s*\d", lines[i])), None)
    if index is None:
        return None
    line, embedded = _json_fields(lines[index][:MAX_PARAM_LINE])
    pairs = _infotext_pairs(line)
    if not {"Sampler", "Seed", "CFG scale"} & pairs.keys():
        return None
    head = "\n".join(lines[:index])
    prompt, _, negative = head.partition("Negative prompt:")
    params: dict[str, Any] = {"prompt": prompt.strip()[:2000], "negative_prompt": negative.strip()[:2000]}
    params.update({field: pairs[key] for key, field in _INFOTEXT_FIELDS.items() if key in pairs})
    params["other_settings"] = sorted(set(pairs) - set(_INFOTEXT_FIELDS))[:40]
    params["loras"] = sorted(set(re.findall(r"<lora:([^:>]+)", head)))[:40]
    params.update(_civitai(embedded))
    checkpoint = next((r for r in params.get("civitai_resources") or [] if r.get("type") == "checkpoint"), None)
    if checkpoint and not params.get("model"):
        params["model"] = checkpoint.get("modelName")
    version, app = str(params.get("version", "")), str(params.get("app", ""))
    if app:
        params["generator"] = app
    elif "fooocus" in version.lower():
        params["generator"] = "Fooocus"
    elif re.match(r"f\d", version):
        params["generator"] = "Stable Diffusion WebUI Forge"
    elif params.get("civitai_resources") is not None or "civitai_metadata" in params:
        params["generator"] = "Civitai (A1111-compatible infotext)"
    elif re.match(r"v\d", version):
        params["generator"] = "AUTOMATIC1111"
    else:
        params["generator"] = "AUTOMATIC1111 or a compatible tool (Forge, SD.Next ...)"
    return params


def _json_fields(line: str) -> tuple[str, dict[str, object]]:
    """Civitai's JSON additions to the settings line ('Civitai resources: [...]', 'Civitai metadata: {...}',
    'Hashes: {...}'): decoded and cut out, since their commas and colons would break the key/value scan."""
    embedded: dict[str, object] = {}
    for key in _JSON_FIELDS:
        at = line.find(f"{key}: ")
        start = at + len(key) + 2
        if at < 0 or line[start:start + 1] not in ("[", "{"):
            continue
        try:
            value, end = _DECODER.raw_decode(line, start)
        except ValueError:
            continue
        embedded[key] = value
        line = line[:at] + line[end:]
    return line, embedded


def _civitai(embedded: dict[str, object]) -> dict[str, object]:
    """The models Civitai lists (type, name, version, weight), its metadata and the model hashes."""
    found: dict[str, object] = {}
    resources = embedded.get("Civitai resources")
    if isinstance(resources, list):
        found["civitai_resources"] = [
            {k: scalar(r.get(k)) for k in ("type", "modelName", "modelVersionName", "modelVersionId", "weight")
             if r.get(k) is not None} for r in resources[:40] if isinstance(r, dict)]
    if isinstance(embedded.get("Civitai metadata"), dict):
        found["civitai_metadata"] = {str(k)[:60]: scalar(v) for k, v in list(embedded["Civitai metadata"].items())[:20]}
    if isinstance(embedded.get("Hashes"), dict):
        found["hashes"] = {str(k)[:80]: scalar(v) for k, v in list(embedded["Hashes"].items())[:40]}
    return found


def _infotext_pairs(line: str) -> dict[str, str]:
    """'Key: value, Key: "quoted, value", ...', scanned left to right so that
    hostile lines cost linear time (a backtracking regex would not)."""
    pairs: dict[str, str] = {}
    pos = 0
    while pos < len(line):
        key = _INFOTEXT_KEY.match(line, pos)
        if key:
            pos = key.end()
            quoted = _QUOTED.match(line, pos) if line.startswith('"', pos) else None
            end = quoted.end() if quoted else (line.find(",", pos) % (len(line) + 1))
            pairs.setdefault(key.group(1).strip(), quoted.group(1) if quoted else line[pos:end].strip())
            pos = end
        comma = line.find(",", pos)
        pos = len(line) if comma < 0 else comma + 1
    return pairs


def recipe(params: dict[str, Any]) -> str:
    """'model 'x' (hash h), 20 steps, Euler a, 512x512' from parsed settings."""
    parts = []
    if params.get("model"):
        model_hash = f" (hash {params['model_hash']})" if params.get("model_hash") else ""
        parts.append(f"model '{params['model']}'{model_hash}")
    elif params.get("model_hash"):
        parts.append(f"model hash {params['model_hash']}")
    if params.get("steps") not in (None, ""):
        parts.append(f"{params['steps']} steps")
    for key in ("sampler", "size"):
        if params.get(key):
            parts.append(str(params[key]))
    return ", ".join(parts) or "settings without a model name"


def read_text_chunks(image: LoadedImage) -> list[Evidence]:
    chunks = {k: v[:MAX_TEXT] for k, v in image.text_chunks.items() if isinstance(v, str)}
    where = "JPEG comment" if image.format == "JPEG" else f"{image.format} text chunk"
    found: list[Evidence] = []
    if "prompt" in chunks or "workflow" in chunks:
        found.append(comfyui_evidence(chunks.get("prompt"), chunks.get("workflow"), image.format))
    if "invokeai_metadata" in chunks or "sd-metadata" in chunks or "Dream" in chunks:
        found.append(_invokeai(chunks))
    handled = {"prompt", "workflow", "invokeai_metadata", "invokeai_graph", "sd-metadata", "Dream", "XML:com.adobe.xmp"}
    if "novelai" in chunks.get("Software", "").lower() or "NovelAI" in chunks.get("Source", ""):
        found.append(_novelai(chunks))
        handled |= {"Software", "Source", "Comment", "Description", "Title"}
    for key, value in chunks.items():
        if key in handled:
            continue
        label = f"{where} {key!r}"
        infotext = parse_infotext(value)
        if infotext:
            found.append(ai_evidence(f"text:{key}", f"{label} written by {infotext['generator']}: "
                                     f"{recipe(infotext)}.", infotext))
        elif key == "parameters":
            found.append(_json_parameters(label, value, chunks))
        elif MIDJOURNEY_JOB.search(value):
            found.append(ai_evidence(f"text:{key}", f"{label} holds a Midjourney prompt with its job ID.",
                                     {"generator": "Midjourney", "text": value[:2000]}))
        else:
            found.extend(named_tool(f"text:{key}", label, value, "software" if key == "Software" else "caption"))
    return found


def _invokeai(chunks: dict[str, str]) -> Evidence:
    meta, legacy = (load_json(chunks.get(key, "")) for key in ("invokeai_metadata", "sd-metadata"))
    meta, legacy = (x if isinstance(x, dict) else {} for x in (meta, legacy))
    image_part = legacy.get("image") if isinstance(legacy.get("image"), dict) else {}
    model = meta.get("model") or legacy.get("model_weights")
    if isinstance(model, dict):
        model = model.get("model_name") or model.get("name") or model.get("key")
    params = {"generator": "InvokeAI", "model": scalar(model),
              "steps": scalar(meta.get("steps", image_part.get("steps"))),
              "sampler": scalar(meta.get("scheduler", image_part.get("sampler"))),
              "seed": scalar(meta.get("seed", image_part.get("seed"))),
              "prompt": str(meta.get("positive_prompt") or chunks.get("Dream") or "")[:2000],
              "app_version": scalar(meta.get("app_version") or legacy.get("app_version"))}
    return ai_evidence("text:invokeai", f"PNG text chunks written by InvokeAI: {recipe(params)}.", params)


def _novelai(chunks: dict[str, str]) -> Evidence:
    comment = load_json(chunks.get("Comment", ""))
    comment = comment if isinstance(comment, dict) else {}
    params = {"generator": "NovelAI", "model": chunks.get("Source", "")[:200] or None,
              "steps": scalar(comment.get("steps")), "sampler": scalar(comment.get("sampler")),
              "seed": scalar(comment.get("seed")), "cfg_scale": scalar(comment.get("scale")),
              "prompt": str(comment.get("prompt") or chunks.get("Description") or "")[:2000],
              "negative_prompt": str(comment.get("uc") or "")[:2000]}
    return ai_evidence("text:novelai", f"PNG text chunks written by NovelAI: {recipe(params)}.", params)


def _json_parameters(label: str, value: str, chunks: dict[str, str]) -> Evidence:
    data = load_json(value)
    if isinstance(data, dict) and isinstance(data.get("sui_image_params"), dict):
        generator, data = "SwarmUI", data["sui_image_params"]
    elif isinstance(data, dict):
        flat = json.dumps(data)[:20000].lower()
        generator = "Fooocus" if "fooocus" in flat or "fooocus_scheme" in chunks else "an image generator"
    else:
        return ai_evidence("text:parameters", f"{label} is present, as Stable Diffusion tools write it, but in no "
                           "format this reader knows.", {"text": value[:2000]}, strength=0.6, decisive=False)
    lower = {str(k).lower().replace(" ", "_"): v for k, v in data.items()}
    pick = lambda *names: next((scalar(lower[n]) for n in names if n in lower), None)  # noqa: E731
    params = {"generator": generator, "model": pick("base_model", "model", "checkpoint"),
              "steps": pick("steps"), "sampler": pick("sampler", "sampler_name"), "seed": pick("seed"),
              "prompt": str(pick("prompt", "full_prompt") or "")[:2000]}
    if not any(params[k] for k in ("model", "steps", "sampler", "seed", "prompt")):
        return ai_evidence("text:parameters", f"{label} holds JSON without generation settings.",
                           {"keys": list(lower)[:40]}, strength=0.5, decisive=False)
    return ai_evidence("text:parameters", f"{label} written by {generator}: {recipe(params)}.", params)
