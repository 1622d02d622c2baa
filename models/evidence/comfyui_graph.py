"""ComfyUI graphs in PNG text chunks: describe_comfy_graph reads the models,
samplers and image-editing nodes of a 'prompt' (API graph) or 'workflow'
(editor graph), and comfyui_evidence weighs it (decisive with a sampler node,
weak without one or when the JSON is unreadable)."""

from __future__ import annotations

import re
from typing import Any

from models.evidence.metadata_common import ai_evidence, load_json, scalar
from models.types import Evidence

# ComfyUI: which node inputs name which kind of model, and which nodes edit an input image.
_COMFY_MODEL_INPUTS = {"ckpt_name": "checkpoints", "unet_name": "checkpoints", "model_path": "checkpoints",
                       "lora_name": "loras", "vae_name": "vaes", "control_net_name": "controlnets"}
_COMFY_WIDGET_MODELS = {"CheckpointLoaderSimple": (0, "checkpoints"), "CheckpointLoader": (1, "checkpoints"),
                        "UNETLoader": (0, "checkpoints"), "LoraLoader": (0, "loras"),
                        "LoraLoaderModelOnly": (0, "loras"), "VAELoader": (0, "vaes")}
_COMFY_SAMPLER_INPUTS = ("seed", "noise_seed", "steps", "cfg", "sampler_name", "scheduler", "denoise")
_COMFY_INPAINT = re.compile(r"inpaint|outpaint|SetLatentNoiseMask", re.I)


def comfyui_evidence(prompt_text: str | None, workflow_text: str | None, fmt: str) -> Evidence:
    graph = describe_comfy_graph(load_json(prompt_text or ""), load_json(workflow_text or ""))
    keys = " and ".join(repr(k) for k, v in (("prompt", prompt_text), ("workflow", workflow_text)) if v is not None)
    label = f"{fmt} text chunk{'s' if ' and ' in keys else ''} {keys}"
    if graph is None:
        return ai_evidence("text:comfyui", f"{label}, named as ComfyUI writes them, hold no readable graph "
                           "(broken or truncated JSON).", {"generator": "ComfyUI?", "readable": False},
                           strength=0.5, decisive=False)
    if not graph["samplers"]:
        return ai_evidence("text:comfyui", f"{label}: a ComfyUI graph without any sampling node; the image passed "
                           f"through ComfyUI ({', '.join(graph['node_types'][:8])}), which does not by itself show "
                           "that it was generated.", graph, strength=0.4, decisive=False)
    return ai_evidence("text:comfyui", f"{label}: a ComfyUI generation graph with {graph['summary']}.", graph)


def describe_comfy_graph(prompt: Any, workflow: Any) -> dict[str, Any] | None:
    """Models, samplers and image-editing nodes of a ComfyUI 'prompt' (API graph) or
    'workflow' (editor graph); None when neither is a graph."""
    nodes: list[tuple[str, dict[str, Any], list[Any]]] = []
    if isinstance(prompt, dict):
        nodes = [(str(n.get("class_type", "")), n.get("inputs") if isinstance(n.get("inputs"), dict) else {}, [])
                 for n in prompt.values() if isinstance(n, dict)]
    if not nodes and isinstance(workflow, dict) and isinstance(workflow.get("nodes"), list):
        nodes = [(str(n.get("type", "")), {}, n["widgets_values"] if isinstance(n.get("widgets_values"), list) else [])
                 for n in workflow["nodes"] if isinstance(n, dict)]
    if not nodes:
        return None
    models: dict[str, list[str]] = {"checkpoints": [], "loras": [], "vaes": [], "controlnets": []}
    samplers, edits, inputs_images = [], [], []
    for class_type, inputs, widgets in nodes:
        for key, kind in _COMFY_MODEL_INPUTS.items():
            if isinstance(inputs.get(key), str):
                models[kind].append(inputs[key][:200])
        if class_type in _COMFY_WIDGET_MODELS and widgets:
            position, kind = _COMFY_WIDGET_MODELS[class_type]
            if len(widgets) > position and isinstance(widgets[position], str):
                models[kind].append(widgets[position][:200])
        if "sampler" in class_type.lower() and "select" not in class_type.lower():
            settings = {k: inputs[k] for k in _COMFY_SAMPLER_INPUTS if isinstance(inputs.get(k), (int, float, str))}
            samplers.append({"node": class_type[:80], **{k: scalar(v) for k, v in settings.items()}})
        if _COMFY_INPAINT.search(class_type):
            edits.append(class_type[:80])
        if class_type == "LoadImage":
            image_name = inputs.get("image") if inputs else (widgets[0] if widgets else None)
            inputs_images.append(str(image_name)[:200] if image_name is not None else "?")
    types = [t for t, _, _ in nodes]
    graph: dict[str, Any] = {"generator": "ComfyUI", **{k: sorted(set(v)) for k, v in models.items()},
                             "samplers": samplers[:20], "inpainting_nodes": sorted(set(edits)),
                             "input_images": inputs_images[:20], "node_types": sorted(set(types))[:80],
                             "img2img": bool(inputs_images) and "VAEEncode" in types}
    parts = []
    if graph["checkpoints"]:
        parts.append("model " + ", ".join(repr(m) for m in graph["checkpoints"][:4]))
    if graph["loras"]:
        parts.append("LoRA " + ", ".join(repr(m) for m in graph["loras"][:4]))
    for sampler in samplers[:3]:
        recipe = [f"{sampler['steps']} steps" if "steps" in sampler else "", str(sampler.get("sampler_name", "")),
                  *(f"{k} {round(sampler[k], 3) if isinstance(sampler[k], float) else sampler[k]}"
                    for k in ("cfg", "denoise") if k in sampler)]
        parts.append(sampler["node"] + (f" ({', '.join(r for r in recipe if r)})" if any(recipe) else ""))
    if edits:
        parts.append(f"inpainting/outpainting nodes {', '.join(graph['inpainting_nodes'])}: an AI edit of the "
                     f"input image {', '.join(repr(i) for i in inputs_images[:3]) or '(not named)'}")
    elif graph["img2img"]:
        parts.append(f"image-to-image from the input image {', '.join(repr(i) for i in inputs_images[:3])}")
    graph["summary"] = "; ".join(parts)
    return graph
