"""What the protocol hands a transport and what it gets back.

The two-stage protocol builds a conversation of text and images; a transport
(local transformers generation, or an OpenAI-compatible server) turns it into
the model's answer.  Both speak these types only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol

from PIL import Image

Role = Literal["system", "user", "assistant"]


@dataclass(frozen=True)
class TextPart:
    text: str


@dataclass(frozen=True)
class ImagePart:
    image: Image.Image


@dataclass(frozen=True)
class Turn:
    role: Role
    parts: tuple[TextPart | ImagePart, ...]

    @property
    def images(self) -> list[Image.Image]:
        return [p.image for p in self.parts if isinstance(p, ImagePart)]


@dataclass(frozen=True)
class GenerationRequest:
    """One query.  prefix_key names the image (and everything placed before the
    stage-specific text) so a transport may keep what it computed for the
    shared prefix and reuse it for the next query about the same image.
    shared_parts says where that prefix ends: the first shared_parts parts of
    the last turn, with every turn before it (None: the transport finds out by
    comparing this query with the last one about the same key)."""

    turns: tuple[Turn, ...]
    stage: Literal["scan", "examine"]
    max_new_tokens: int
    min_new_tokens: int = 0
    prefix_key: str | None = None
    verdict_words: tuple[str, ...] = ()   # score these words' first-token probabilities at each step
    shared_parts: int | None = None

    @property
    def images(self) -> list[Image.Image]:
        return [image for turn in self.turns for image in turn.images]


@dataclass(frozen=True)
class TokenStep:
    """One generated token: where it starts in the answer text, and the log
    probabilities the model gave each verdict word's first token at that step."""

    start: int
    candidates: dict[str, float] = field(default_factory=dict)


@dataclass
class Generation:
    """The model's answer to one query, with what it cost."""

    text: str
    timings: dict[str, float] = field(default_factory=dict)
    tokens: list[TokenStep] | None = None           # None where the transport has no token probabilities
    input_image_sizes: list[tuple[int, int]] = field(default_factory=list)  # (width, height) the model saw
    prompt_tokens: int | None = None
    reused_prefix_tokens: int = 0
    generated_tokens: int | None = None
    notes: list[str] = field(default_factory=list)


class Transport(Protocol):
    """Carries a query to a model and brings back its answer."""

    def generate(self, request: GenerationRequest) -> Generation: ...

    def describe(self) -> dict:
        """Model id, revision or weights hash, quantization, device, software versions."""
        ...


class TransportError(Exception):
    """The model could not answer (server down, timeout, out of memory); the message says what to do."""
