"""Which generator or editor a metadata field names: the GENERATORS and EDITORS
tables (one table for every place a tool is named), find_tool, and the
per-field-kind rule in named_tool (software fields accept any name, name fields
only unambiguous ones, captions only "generated with <generator>")."""

from __future__ import annotations

import re
from dataclasses import dataclass

from models.evidence.metadata_common import MAX_PARAM_LINE, ai_evidence
from models.types import Evidence

MAX_TOOL_FIELD = 2_000  # a software or name field is a short string; longer ones are cut


@dataclass(frozen=True)
class ToolName:
    name: str
    pattern: str  # case-insensitive, matched as whole words
    ambiguous: bool = False  # also an ordinary word or name: trusted only in software fields


# One table for every place a generator is named: EXIF Software/Make/Model/Artist,
# XMP CreatorTool, IPTC originating program, PNG 'Software', captions.
GENERATORS: tuple[ToolName, ...] = tuple(ToolName(n, p, a == "?") for n, p, a in (
    ("Midjourney", r"midjourney", ""), ("DALL-E", r"dall[\W_]{0,2}e(?:\s?[23])?", ""),
    ("OpenAI", r"openai|chatgpt|gpt-image(?:-\d)?", ""), ("OpenAI Sora", r"sora", "?"),
    ("Adobe Firefly", r"adobe\sfirefly", ""), ("Adobe Firefly", r"firefly", "?"),
    ("Stable Diffusion", r"stable[\s_-]?diffusion|sdxl|stable[\s_-]?cascade|dreamstudio", ""),
    ("NovelAI", r"novel\s?ai", ""), ("Leonardo.Ai", r"leonardo\.ai", ""), ("Leonardo.Ai", r"leonardo", "?"),
    ("Ideogram", r"ideogram", ""), ("Google Imagen", r"imagen\s?\d|nano[\s-]?banana", ""),
    ("Google Imagen", r"imagen|gemini", "?"), ("Flux", r"flux\.1|flux\s(?:pro|dev|schnell|kontext)", ""),
    ("Flux", r"flux", "?"), ("Runway", r"runway\s?ml|runway\sgen-?\d", ""), ("Runway", r"runway", "?"),
    ("Bing Image Creator", r"bing\simage\screator|microsoft\sdesigner", ""), ("Grok (xAI)", r"grok|aurora", "?"),
    ("Kling", r"kling", "?"), ("Krea", r"krea\.ai", ""), ("Recraft", r"recraft", ""),
    ("Playground AI", r"playground\s?(?:ai|v\d)", ""), ("Craiyon", r"craiyon", ""), ("NightCafe", r"nightcafe", ""),
    ("Dreamina/Seedream", r"dreamina|seedream", ""), ("Qwen-Image", r"qwen[\s-]?image", ""),
    ("ComfyUI", r"comfyui", ""), ("AUTOMATIC1111", r"automatic1111|stable-diffusion-webui", ""),
    ("InvokeAI", r"invoke\s?ai", ""), ("Fooocus", r"fooocus", ""), ("Draw Things", r"draw\sthings", ""),
    ("DiffusionBee", r"diffusionbee", ""), ("Doubao", r"doubao|豆包", ""), ("Tencent Hunyuan", r"hunyuan|混元", ""),
    ("Tongyi Wanxiang", r"tongyi[\s-]?wanxiang|wanxiang|通义万相", ""), ("Jimeng", r"jimeng|即梦", ""),
    ("Kling", r"kling\s?ai|可灵", ""), ("MiniMax Hailuo", r"hailuo|minimax", ""),
    ("Luma", r"luma\s?(?:ai|labs|dream\s?machine|photon)", ""), ("Pika", r"pika\s?labs|pika\.art", ""),
    ("Reve", r"reve\s?(?:image|art)", ""), ("HiDream", r"hidream", ""), ("Meta AI", r"imagine\s(?:with|by)\smeta|meta\sai", ""),
    ("SwarmUI", r"swarmui", ""), ("Civitai", r"civitai", ""), ("Tensor.Art", r"tensor\.art", ""),
    ("SeaArt", r"seaart", ""), ("Wan", r"wan\s?2\.\d", ""), ("Grok (xAI)", r"grok\s?imagine|xai\s?aurora", ""),
))
EDITORS: tuple[ToolName, ...] = tuple(ToolName(n, p) for n, p in (
    ("Adobe Photoshop", r"photoshop"), ("Adobe Lightroom", r"lightroom"), ("GIMP", r"gimp"),
    ("Affinity Photo", r"affinity\sphoto"), ("Pixelmator", r"pixelmator"), ("Paint.NET", r"paint\.net"),
    ("Snapseed", r"snapseed"), ("Capture One", r"capture\sone"), ("darktable", r"darktable"),
    ("RawTherapee", r"rawtherapee"), ("Luminar", r"luminar"), ("Photopea", r"photopea"), ("Krita", r"krita"),
    ("PicsArt", r"picsart"), ("Facetune", r"facetune"), ("Canva", r"canva"), ("Picasa", r"picasa"),
    ("ACDSee", r"acdsee"), ("PaintShop Pro", r"paintshop"),
))
_GENERATION_PHRASE = re.compile(r"\b(?:generated|created|made|rendered|produced|imagined)\s+(?:with|by|using|in|on)"
                                r"\s+(?:the\s+)?([\w.\u00b7 -]{2,40})", re.I)


def find_tool(text: str | None, table: tuple[ToolName, ...] = GENERATORS, ambiguous: bool = True) -> str | None:
    """The name from `table` that `text` mentions, if any (ambiguous names only when asked)."""
    if not text:
        return None
    text = text[:MAX_TOOL_FIELD]
    for tool in table:
        if (ambiguous or not tool.ambiguous) and re.search(rf"(?<![\w.]){tool.pattern}(?!\w)", text, re.I):
            return tool.name
    return None


def named_tool(source: str, label: str, value: str, field_kind: str) -> list[Evidence]:
    """A field naming a generator or editor.  field_kind "software" (Software,
    CreatorTool ...) accepts every name; "name" (Make, Model, Artist) only
    unambiguous ones; "caption" text must say "generated with <generator>"."""
    if field_kind == "caption":
        match = _GENERATION_PHRASE.search(value[:MAX_PARAM_LINE])
        generator = find_tool(match.group(1), ambiguous=False) if match else None
        if generator:
            return [ai_evidence(source, f"{label} says the image was {match.group(0).strip()!r}.",
                                {"generator": generator, "text": value[:500]}, strength=0.9)]
        return []
    generator = find_tool(value, ambiguous=field_kind == "software")
    if generator:
        return [ai_evidence(source, f"{label} names the generator {generator} ({value[:120]!r}).",
                            {"generator": generator, "value": value[:300]})]
    editor = find_tool(value, EDITORS) if field_kind == "software" else None
    if editor:
        return [Evidence("metadata", source, f"{label} says the file was edited with {editor} ({value[:120]!r}): "
                         "editing says nothing either way about AI generation, but the pixels are not as captured.",
                         details={"editor": editor, "value": value[:300]})]
    return []
