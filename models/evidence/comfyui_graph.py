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
                             "img2img": bool(inputs_images) and "VAEEncode" in types,
                             **(_api_prompts(prompt) if isinstance(prompt, dict) and prompt else
                                _workflow_prompts(workflow) if isinstance(workflow, dict) else {})}
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


_PROMPT_LIMIT = 4000  # a prompt is kept whole for the recipe, up to this many characters


def _api_prompts(prompt: dict[str, Any]) -> dict[str, Any]:
    """The first sampler's positive and negative prompt text and the latent size, by
    following its input links ([node id, output]) in an API graph."""
    def linked(value: Any) -> dict[str, Any]:
        node = prompt.get(str(value[0])) if isinstance(value, list) and value else None
        return node.get("inputs") if isinstance(node, dict) and isinstance(node.get("inputs"), dict) else {}

    def text_of(value: Any, depth: int = 0) -> str | None:
        inputs = linked(value)
        for key in ("text", "text_g", "string", "value", "prompt"):
            if isinstance(inputs.get(key), str):
                return inputs[key][:_PROMPT_LIMIT]
            if isinstance(inputs.get(key), list) and depth < 3:  # text fed from a primitive or string node
                return text_of(inputs[key], depth + 1)
        return None

    sampler = next((n.get("inputs") for n in prompt.values() if isinstance(n, dict)
                    and "sampler" in str(n.get("class_type", "")).lower() and isinstance(n.get("inputs"), dict)
                    and "positive" in n["inputs"]), None)
    if not sampler:
        return {}
    found = {"prompt": text_of(sampler.get("positive")), "negative_prompt": text_of(sampler.get("negative"))}
    latent = linked(sampler.get("latent_image"))
    if isinstance(latent.get("width"), int) and isinstance(latent.get("height"), int):
        found["size"] = f"{latent['width']}x{latent['height']}"
    return {k: v for k, v in found.items() if v}


def _workflow_prompts(workflow: dict[str, Any]) -> dict[str, Any]:
    """The same from an editor graph, whose links are [id, from node, from slot, to node, to slot, type]."""
    nodes = {n.get("id"): n for n in workflow.get("nodes") or [] if isinstance(n, dict)}
    origin = {link[0]: link[1] for link in workflow.get("links") or [] if isinstance(link, list) and len(link) > 2}

    def widget_text(link: Any) -> str | None:
        values = (nodes.get(origin.get(link)) or {}).get("widgets_values")
        return values[0][:_PROMPT_LIMIT] if isinstance(values, list) and values and isinstance(values[0], str) else None

    found: dict[str, Any] = {}
    for node in nodes.values():
        if "sampler" not in str(node.get("type", "")).lower() or not isinstance(node.get("inputs"), list):
            continue
        links = {i.get("name"): i.get("link") for i in node["inputs"] if isinstance(i, dict)}
        found = {"prompt": widget_text(links.get("positive")), "negative_prompt": widget_text(links.get("negative"))}
        latent = (nodes.get(origin.get(links.get("latent_image"))) or {}).get("widgets_values")
        if isinstance(latent, list) and len(latent) >= 2 and all(isinstance(v, int) for v in latent[:2]):
            found["size"] = f"{latent[0]}x{latent[1]}"
        widgets = node.get("widgets_values")
        if node.get("type") == "KSampler" and isinstance(widgets, list) and len(widgets) >= 7:
            # KSampler's widgets: seed, seed control, steps, cfg, sampler, scheduler, denoise
            found.update({k: scalar(widgets[i]) for k, i in (("seed", 0), ("steps", 2), ("cfg", 3),
                                                             ("sampler_name", 4), ("scheduler", 5), ("denoise", 6))})
        break
    return {k: v for k, v in found.items() if v}
