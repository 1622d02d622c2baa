"""One plain clause per file finding that can decide a verdict (Content
Credentials, generator settings, a watermark, camera metadata), and what
such a finding cannot tell: the words the reading's headline and basis are
built from.  The measurements stay in the finding's own expert text."""

from __future__ import annotations

from models.evidence.credentials_words import credentials_lines, credentials_phrase, is_credentials, short_name
from models.evidence.recipe import generation_recipe
from models.evidence.metadata_common import FORGEABLE
from models.evidence.topics import CAMERA_SOURCE
from models.region_words import as_sentence, first_sentence
from models.types import Evidence


def evidence_phrase(item: Evidence) -> str:
    """What one deciding finding says, as a clause: 'the file carries ComfyUI generation settings (model x)'."""
    details = item.details
    if item.source == "c2pa" and is_credentials(details):
        return credentials_phrase(details)
    if item.kind == "watermark":
        pattern = details.get("pattern")
        return "the image carries a Stable Diffusion invisible watermark" + (f" ({pattern})" if pattern else "")
    if item.kind == "metadata":
        if item.source == CAMERA_SOURCE:
            return f"the file's camera metadata ({camera_name(details)}) points to a real photo, but is easily copied"
        generator = short_name(str(details.get("generator") or "").split(" (")[0]) if details.get("generator") else ""
        recipe = generation_recipe([item])
        model = recipe.get("Model", "").split(",")[0]
        if recipe.get("Prompt") or recipe.get("Seed") or recipe.get("Steps"):
            settings = "the file carries AI generation settings" + (f" written by {generator}" if generator else "")
            return settings + (f" (model {short_name(_short(model), 48)})" if model else "")
        if item.source.startswith("aigc:"):
            producer = f" from the producer {short_name(details['generator'], 40)}" if details.get("generator") else ""
            return f"the file carries China's label for AI-generated content (TC260){producer}"
        if "digital_source_type" in details:
            return "the file's metadata declares it AI-generated (IPTC digital source type)"
        if generator:
            return f"the file's metadata names the AI generator {_short(str(generator))}"
        return "the file's metadata declares it AI-generated"
    return _short(item.finding.split(":")[0], 12)


def record_word(item: Evidence) -> str:
    return {"provenance": "Content Credentials", "watermark": "watermark"}.get(item.kind, "metadata")


def file_limits(lead: Evidence) -> str:
    if lead.kind == "provenance" and lead.supports == "real":
        return ("A camera credential shows where the file came from, not that the scene was not staged; "
                "the photographer or the original source can confirm the rest.")
    if lead.kind == "provenance":
        return ("The credentials say how the file was made, not which parts are AI; the signer's own records "
                "or the original file from the source would confirm it.")
    if lead.kind == "watermark":
        return ("A watermark shows a Stable Diffusion tool made or passed on the image, not which parts; "
                "the original file from the source would confirm it.")
    return ("Generation settings can be copied onto another image; the original file from the source, or the "
            "generator's own records, would confirm it.")



def plain_finding(item: Evidence) -> str:
    """One plain sentence (or a few, for Content Credentials) per file finding,
    for a provenance panel or section; the finding's own text stays the expert one."""
    details = item.details
    if item.source == "c2pa":
        if is_credentials(details) and details.get("readable"):
            return " ".join(credentials_lines(details))
        return "Content Credentials are present but could not be read, so nothing in them can be checked."
    if item.kind == "watermark":
        if item.decisive:
            return as_sentence(evidence_phrase(item))
        if details.get("checked") is False:
            return "The image is too small to carry a Stable Diffusion watermark, so none was sought."
        return "No known invisible watermark was found; most AI tools embed none, and re-saving removes one."
    if item.kind == "metadata":
        if item.source == CAMERA_SOURCE and item.supports == "real":
            copied = " It contradicts the generator settings in the same file, so it was probably copied." \
                if details.get("contradicted") else ""
            return as_sentence(evidence_phrase(item)) + copied
        if item.source == CAMERA_SOURCE:
            return (f"The file names a camera ({camera_name(details)}) but records no exposure settings, which "
                    "software that invents or copies metadata often leaves out.")
        if details.get("editor"):
            return f"The file says it was edited with {details['editor']}; that says nothing about AI either way."
        if item.supports == "ai-generated" and item.decisive:
            return as_sentence(evidence_phrase(item)) + " Such metadata can be copied or stripped."
        if item.supports == "ai-generated" and item.source.startswith("aigc:"):
            return (f"The file carries China's label for AI-generated content, saying it is "
                    f"{details.get('label_meaning') or 'of an unknown kind'}; that supports AI without deciding it.")
        if item.supports == "ai-generated":
            return "The metadata hints at an AI tool but does not show that the image was generated with it."
    return first_sentence(item.finding.replace(FORGEABLE, ""))


def camera_name(details: dict) -> str:
    """'Canon EOS R5' from make 'Canon' and model 'Canon EOS R5' (or model 'EOS R5'), as camera_exif names it."""
    make, model = str(details.get("make") or "").strip(), str(details.get("model") or "").strip()
    if make and model.lower().startswith(make.split()[0].lower()):
        return short_name(model)
    return short_name(" ".join(x for x in (make, model) if x) or "a camera")


def _short(text: str, words: int = 6) -> str:
    parts = text.split()
    return " ".join(parts[:words]) + ("…" if len(parts) > words else "")
