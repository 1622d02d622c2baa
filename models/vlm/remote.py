"""The remote transport: the same two queries over the OpenAI chat-completions
API, as vLLM, SGLang, LM Studio and Ollama serve Qwen2.5-VL.

Images travel as base64 PNG data URLs (lossless: a forensic model must not
judge our own recompression), already resized to whole 28 px cells so a
Qwen2.5-VL server keeps the size the boxes refer to.  Token probabilities
are asked for (`logprobs`) and used for the score when the server returns
them.  Timeouts, connection failures, 429 and 5xx answers are retried a
bounded number of times with backoff; a refused key or a wrong URL is
reported at once.  The API key is sent, never recorded.
"""

from __future__ import annotations

import base64
import io
import math
import time
from typing import Any

import requests

from models.vlm.concurrency import InFlightGate, pooled_session, retry_delay
from models.vlm.conversation import Generation, GenerationRequest, ImagePart, TokenStep, TransportError
from models.vlm.settings import RemoteSettings

TOP_LOGPROBS = 10
RETRIED_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class ChatCompletionsTransport:
    def __init__(self, settings: RemoteSettings, session: requests.Session | None = None, concurrency: int = 1):
        self.settings = settings
        self.session = session or pooled_session(concurrency)
        self.in_flight = InFlightGate(concurrency)  # a batch's threads share this transport (models/vlm/concurrency.py)
        self.server_model: str | None = None
        self._logprobs = settings.request_logprobs
        self.family, self.family_note = settings.model_family  # how the served model sizes images, writes boxes

    @property
    def endpoint(self) -> str:
        return f"{self.settings.base_url}/chat/completions"

    def describe(self) -> dict:
        from models.vlm.fingerprint import software_versions

        return {"model_id": self.settings.model, "model_family": self.family.name, "server": self.settings.base_url,
                "server_model": self.server_model, "revision": None, "weights_sha256": None,
                "quantization": "server-side", "device": "remote", "software": software_versions()}

    def generate(self, request: GenerationRequest) -> Generation:
        body: dict[str, Any] = {"model": self.settings.model, "messages": _messages(request),
                                "max_tokens": request.max_new_tokens, "temperature": 0.0, "stream": False}
        if request.min_new_tokens:
            body["min_tokens"] = request.min_new_tokens  # a vLLM/SGLang extension; others ignore it
        if self.family.chat_template_options:  # e.g. Qwen3.5 thinks unless told not to (vLLM/SGLang extension)
            body["chat_template_kwargs"] = self.family.template_options()
        notes: list[str] = []
        if self._logprobs and request.verdict_words:
            body.update(logprobs=True, top_logprobs=TOP_LOGPROBS)
        start = time.perf_counter()
        try:
            payload = self._post(body)
        except _LogprobsRefused:
            self._logprobs = False
            notes.append("the server refused to return token probabilities; asked again without them")
            body.pop("logprobs", None), body.pop("top_logprobs", None)
            payload = self._post(body)
        seconds = time.perf_counter() - start
        text, tokens, usage = _read_completion(payload, self.endpoint)
        self.server_model = payload.get("model") or self.server_model
        return Generation(text=text, timings={"request": seconds},
                          tokens=tokens if request.verdict_words else None,
                          input_image_sizes=[image.size for image in request.images],
                          prompt_tokens=usage.get("prompt_tokens"), generated_tokens=usage.get("completion_tokens"),
                          notes=notes)

    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        headers = {"Content-Type": "application/json"}
        if self.settings.api_key:
            headers["Authorization"] = f"Bearer {self.settings.api_key}"
        attempts = self.settings.retries + 1
        problem = ""
        for attempt in range(1, attempts + 1):
            response = None
            try:
                with self.in_flight:
                    response = self.session.post(self.endpoint, json=body, headers=headers,
                                                 timeout=self.settings.timeout)
            except requests.Timeout:
                problem = f"the server did not answer within {self.settings.timeout:g} s"
            except requests.ConnectionError as exc:
                problem = f"cannot connect ({_short(exc)})"
            else:
                if response.status_code == 200:
                    try:
                        return response.json()
                    except ValueError:
                        raise TransportError(f"{self.endpoint} answered 200 but not with JSON: "
                                             f"{_short(response.text)!r}") from None
                self._refuse_now(response, body)
                problem = f"HTTP {response.status_code}: {_short(response.text)}"
            if attempt < attempts:
                time.sleep(retry_delay(response, attempt, self.settings.retry_backoff))  # honours Retry-After
        raise TransportError(f"{self.endpoint}: {problem} (gave up after {attempts} attempt(s))")

    def _refuse_now(self, response: requests.Response, body: dict[str, Any]) -> None:
        """Answers that another attempt cannot change."""
        status = response.status_code
        if status in RETRIED_STATUS or status >= 500:
            return
        detail = _short(response.text)
        if status in (401, 403):
            raise TransportError(f"the server at {self.settings.base_url} refused the request (HTTP {status}: "
                                 f"{detail}); check the API key (--api-key or ZOOMIN_REMOTE_API_KEY)")
        if status == 404:
            raise TransportError(f"{self.endpoint} answered HTTP 404 ({detail}): the base URL should end where "
                                 "/chat/completions begins (e.g. http://host:8000/v1), and the model name must be "
                                 "one the server serves")
        if status in (400, 422) and "logprob" in detail.lower() and "logprobs" in body:
            raise _LogprobsRefused()
        raise TransportError(f"{self.endpoint} rejected the request (HTTP {status}: {detail})")


class _LogprobsRefused(Exception):
    pass


def _messages(request: GenerationRequest) -> list[dict[str, Any]]:
    messages = []
    for turn in request.turns:
        content = [{"type": "image_url", "image_url": {"url": _data_url(part.image)}} if isinstance(part, ImagePart)
                   else {"type": "text", "text": part.text} for part in turn.parts]
        if turn.role == "system" and len(content) == 1 and content[0]["type"] == "text":
            messages.append({"role": "system", "content": content[0]["text"]})
        else:
            messages.append({"role": turn.role, "content": content})
    return messages


def _data_url(image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def _read_completion(payload: Any, endpoint: str) -> tuple[str, list[TokenStep] | None, dict[str, Any]]:
    try:
        choice = payload["choices"][0]
        content = choice["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise TransportError(f"{endpoint} did not answer with a chat completion (no choices[0].message.content): "
                             f"{_short(str(payload))!r}") from None
    if isinstance(content, list):  # some servers return content parts
        content = "".join(part.get("text", "") for part in content if isinstance(part, dict))
    if not isinstance(content, str):
        raise TransportError(f"{endpoint} returned message content of type {type(content).__name__}, not text")
    usage = payload.get("usage") if isinstance(payload.get("usage"), dict) else {}
    return content, _token_steps(choice.get("logprobs")), usage


def _token_steps(logprobs: Any) -> list[TokenStep] | None:
    """Token offsets and verdict-word probabilities from a chat-completions `logprobs` block."""
    entries = logprobs.get("content") if isinstance(logprobs, dict) else None
    if not isinstance(entries, list) or not entries:
        return None
    steps, position = [], 0
    for entry in entries:
        token = str(entry.get("token", ""))
        alternatives = entry.get("top_logprobs") or [{"token": token, "logprob": entry.get("logprob")}]
        candidates: dict[str, list[float]] = {}
        for alternative in alternatives:
            word = str(alternative.get("token", "")).strip().lower()
            logprob = alternative.get("logprob")
            if not word or not isinstance(logprob, (int, float)):
                continue
            for meaning, full in (("ai-generated", "generated"), ("real", "real")):
                if full.startswith(word):
                    candidates.setdefault(meaning, []).append(float(logprob))
        steps.append(TokenStep(start=position, candidates={m: _logsumexp(v) for m, v in candidates.items()}))
        position += len(token)
    return steps


def _logsumexp(values: list[float]) -> float:
    top = max(values)
    return top + math.log(sum(math.exp(v - top) for v in values))


def _short(value: Any, limit: int = 200) -> str:
    text = " ".join(str(value).split())
    return text if len(text) <= limit else text[:limit] + "…"
