"""The generation recipe a file carries (prompt, model, sampler, seed ...),
gathered from the generator-metadata findings into one display-ordered table.

The metadata readers keep each tool's settings under the detail names they
parse (generator_text: A1111/Forge, NovelAI, InvokeAI, Fooocus/SwarmUI JSON;
comfyui_graph: the ComfyUI graph's checkpoints, samplers and prompts).  This
module maps those names onto one set of reader labels, so the page, the CLI
and the report show the same table.  Long prompts are kept whole: folding
them is the display's job.
"""

from __future__ import annotations

from typing import Any

from models.types import Evidence

# Reader label -> the detail names the readers use for it, first found wins.
RECIPE_FIELDS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Generator", ("generator",)),
    ("Prompt", ("prompt",)),
    ("Negative prompt", ("negative_prompt",)),
    ("Model", ("model", "checkpoints")),
    ("Model hash", ("model_hash",)),
    ("LoRA", ("loras",)),
    ("VAE", ("vae", "vaes")),
    ("Sampler", ("sampler", "sampler_name")),
    ("Scheduler", ("scheduler",)),
    ("Steps", ("steps",)),
    ("Guidance (CFG scale)", ("cfg_scale", "cfg")),
    ("Seed", ("seed", "noise_seed")),
    ("Size", ("size",)),
    ("Denoising strength", ("denoising_strength", "denoise")),
    ("Input image", ("input_images",)),
    ("App version", ("app_version", "version")),
)
_PLACEHOLDER_GENERATORS = {"ComfyUI?", "an image generator"}


def generation_recipe(evidence: list[Evidence]) -> dict[str, str]:
    """The recipe of the strongest generator-settings finding; {} when none carries one."""
    candidates = [e for e in evidence if e.kind == "metadata" and e.supports == "ai-generated"]
    candidates.sort(key=lambda e: (not e.decisive, -e.strength))
    for item in candidates:
        recipe = recipe_from_details(item.details)
        if len(recipe) > 1 or (recipe and "Generator" not in recipe):  # more than a bare tool name
            return recipe
    return {}


def recipe_from_details(details: dict[str, Any]) -> dict[str, str]:
    """Display-ordered recipe from one finding's details (a ComfyUI graph's
    first sampler counts as its settings)."""
    flat = dict(details)
    samplers = details.get("samplers")
    if isinstance(samplers, list) and samplers and isinstance(samplers[0], dict):
        flat = {**samplers[0], **{k: v for k, v in details.items() if k != "samplers"}}
        if len(samplers) > 1:
            flat.setdefault("other_samplers", len(samplers) - 1)
    if flat.get("generator") in _PLACEHOLDER_GENERATORS:
        flat.pop("generator")
    recipe: dict[str, str] = {}
    for label, names in RECIPE_FIELDS:
        value = next((flat[n] for n in names if _present(flat.get(n))), None)
        if value is not None:
            recipe[label] = _display(value)
    if flat.get("other_samplers"):
        recipe["Further sampling passes"] = str(flat["other_samplers"])
    return recipe


def _present(value: Any) -> bool:
    return value not in (None, "", [], {}) and not isinstance(value, bool)


def _display(value: Any) -> str:
    if isinstance(value, (list, tuple)):
        return ", ".join(str(v) for v in value)
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)
