"""The remote backend against a chat-completions server started on 127.0.0.1
that replays recorded answers, malformed ones, slow ones and errors."""

from __future__ import annotations

import json
import math
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from models.detector import DetectorUnavailable
from models.image_input import load_image
from models.sample_images import camera_like_photo, encode
from models.types import Box, Region
from models.vlm.backends import RemoteVLM
from models.vlm.geometry import ModelGrid
from models.vlm.protocol import RAW_DELIMITER

# Recorded Qwen2.5-VL-7B-Instruct answers (vLLM) for the two queries.
SCAN_ANSWER = ('```json\n[\n\t{"bbox_2d": [280, 112, 420, 252], "label": "upscaled patch", '
               '"reason": "blurry, smoother than the surrounding texture"}\n]\n```')
EXAMINE_ANSWER = ('<think>The zoomed region is smoother than the rest of the photograph and its edges are '
                  'soft, consistent with a re-rendered patch.</think>\n<regions>[{"region": 1, "artifact": true, '
                  '"finding": "texture is smoother than its surroundings"}]</regions>\n<verdict>generated</verdict>')


def completion(text: str, logprobs: list[tuple[str, list[tuple[str, float]]]] | None = None) -> dict:
    choice = {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
    if logprobs is not None:
        choice["logprobs"] = {"content": [
            {"token": token, "logprob": top[0][1] if top else -0.01,
             "top_logprobs": [{"token": t, "logprob": lp} for t, lp in top]} for token, top in logprobs]}
    return {"id": "chatcmpl-1", "object": "chat.completion", "model": "Qwen/Qwen2.5-VL-7B-Instruct",
            "choices": [choice], "usage": {"prompt_tokens": 1200, "completion_tokens": 60}}


def tokens_of(text: str, verdict_alternatives: list[tuple[str, float]]) -> list:
    """The answer as server tokens: one per word boundary, the verdict word with its alternatives."""
    head, tail = text.split("generated</verdict>")
    return [(head, [(head, -0.01)]), ("generated", verdict_alternatives), ("</verdict>" + tail, [])]


class ChatServer:
    """Replays a script of replies: ("json", body), ("status", code, body), ("sleep", seconds, body), ("raw", bytes)."""

    def __init__(self):
        self.script: list[tuple] = []
        self.requests: list[dict] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                server.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                reply = server.script.pop(0) if server.script else ("status", 500, {"error": "script exhausted"})
                if reply[0] == "sleep":
                    time.sleep(reply[1])
                    reply = ("json", reply[2])
                if reply[0] == "raw":
                    self._send(200, reply[1])
                elif reply[0] == "json":
                    self._send(200, json.dumps(reply[1]).encode())
                else:
                    self._send(reply[1], json.dumps(reply[2]).encode())

            def _send(self, status, payload):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True  # a reply still sleeping must not hold up the next test
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server():
    chat = ChatServer()
    yield chat
    chat.close()


@pytest.fixture(scope="module")
def image():
    return load_image(encode(camera_like_photo(480, 640, seed=9), "PNG"), name="photo.png")


def remote(server, **options) -> RemoteVLM:
    options = {"evidence_context": False, "max_regions": 3, "retries": 1, "retry_backoff": 0.01, **options}
    return RemoteVLM(base_url=server.url, model="Qwen/Qwen2.5-VL-7B-Instruct", api_key="secret-key", **options)


def test_recorded_answers_end_to_end(server, image):
    alternatives = [("generated", math.log(0.8)), ("real", math.log(0.15))]
    server.script = [("json", completion(SCAN_ANSWER)),
                     ("json", completion(EXAMINE_ANSWER, tokens_of(EXAMINE_ANSWER, alternatives)))]
    detector = remote(server)
    analysis = detector.analyze(image)

    assert analysis.backend == "remote" and analysis.verdict == "ai-generated"
    assert analysis.score == pytest.approx(0.8 / 0.95, abs=1e-3)
    assert analysis.provenance["score_source"].startswith("measured")
    grid = ModelGrid.for_image(640, 480, detector.settings.max_image_pixels)
    expected = Box(280 * 640 / grid.model_width, 112 * 480 / grid.model_height,
                   420 * 640 / grid.model_width, 252 * 480 / grid.model_height)
    region = analysis.regions[0]
    assert region.box.to_list() == expected.to_list() and region.label == "upscaled patch"
    assert region.score == 0.75 and "smoother than its surroundings" in region.explanation
    assert SCAN_ANSWER in analysis.raw_output and EXAMINE_ANSWER in analysis.raw_output
    assert analysis.timings["scan_request"] > 0 and analysis.timings["examine_request"] > 0

    scan_request, examine_request = (r["body"] for r in server.requests)
    assert server.requests[0]["path"] == "/v1/chat/completions"
    assert server.requests[0]["headers"]["Authorization"] == "Bearer secret-key"
    assert "secret-key" not in json.dumps(analysis.to_dict())
    images = [part for message in examine_request["messages"] if isinstance(message["content"], list)
              for part in message["content"] if part["type"] == "image_url"]
    assert len(images) == 2 and images[0]["image_url"]["url"].startswith("data:image/png;base64,")
    assert examine_request["logprobs"] is True and "logprobs" not in scan_request
    # The full image and its text come first in both queries, identical (a server's prefix cache can reuse it).
    assert scan_request["messages"][1]["content"][:2] == examine_request["messages"][1]["content"][:2]


def test_without_logprobs_the_score_is_a_stated_stand_in(server, image):
    server.script = [("json", completion(SCAN_ANSWER)), ("json", completion(EXAMINE_ANSWER))]
    analysis = remote(server).analyze(image)
    assert analysis.verdict == "ai-generated" and analysis.score == 0.75
    assert "no token probability was available" in analysis.explanation
    assert "not a measurement" in analysis.provenance["score_source"]


def test_malformed_model_text_is_inconclusive_and_kept(server, image):
    garbled = '[{"bbox_2d": [10, 10, 9'  # cut off mid-box; then an answer with no verdict
    server.script = [("json", completion(garbled)), ("json", completion("<think>I cannot tell because"))]
    analysis = remote(server).analyze(image)
    assert analysis.verdict == "inconclusive" and "could not be parsed" in analysis.explanation
    assert garbled in analysis.raw_output and RAW_DELIMITER.format(stage="stage 1: scan") in analysis.raw_output
    assert analysis.provenance["regions_source"] in ("evidence-engine", "grid")
    assert any("examined instead" in note for note in analysis.notes)


def test_a_reply_that_is_not_a_chat_completion(server, image):
    server.script = [("raw", b"<html>502 Bad Gateway</html>")]
    with pytest.raises(DetectorUnavailable, match="not with JSON"):
        remote(server).analyze(image)
    server.script = [("json", {"object": "error", "message": "bad"})]
    with pytest.raises(DetectorUnavailable, match="no choices"):
        remote(server).analyze(image)


def test_slow_server_times_out_after_bounded_retries(server, image):
    server.script = [("sleep", 1.5, completion(SCAN_ANSWER)), ("sleep", 1.5, completion(SCAN_ANSWER))]
    detector = remote(server, timeout=0.3, retries=1)
    with pytest.raises(DetectorUnavailable, match=r"did not answer within 0.3 s \(gave up after 2 attempt"):
        detector.scan(image)
    assert len(server.requests) == 2


def test_server_errors_are_retried_then_reported(server, image):
    server.script = [("status", 500, {"error": "engine crashed"})] * 3
    detector = remote(server, retries=2)
    with pytest.raises(DetectorUnavailable, match=r"HTTP 500.*engine crashed.*gave up after 3 attempt"):
        detector.scan(image)
    assert len(server.requests) == 3


def test_a_transient_error_then_success(server, image):
    server.script = [("status", 503, {"error": "loading"}), ("json", completion(SCAN_ANSWER))]
    detector = remote(server)
    assert detector.scan(image)[0].label == "upscaled patch"


def test_refused_key_is_reported_at_once(server, image):
    server.script = [("status", 401, {"error": "invalid api key"})]
    with pytest.raises(DetectorUnavailable, match="HTTP 401.*check the API key"):
        remote(server).scan(image)
    assert len(server.requests) == 1


def test_wrong_url_says_where_the_base_url_should_end(server, image):
    server.script = [("status", 404, {"error": "not found"})]
    with pytest.raises(DetectorUnavailable, match="should end where /chat/completions begins"):
        remote(server).scan(image)


def test_a_server_refusing_logprobs_is_asked_again_without(server, image):
    server.script = [("status", 400, {"error": "logprobs are not supported"}), ("json", completion(EXAMINE_ANSWER))]
    detector = remote(server)
    progress = []
    analysis = detector.examine(image, [Region(box=Box(10, 10, 200, 200), score=0.0, label="analyst box", id="a1")],
                                question="Is this patch upscaled?", on_region=lambda *done: progress.append(done))
    assert progress == [(1, 1)], "one generation examines every crop: reported once, when it ends"
    assert analysis.verdict == "ai-generated" and "logprobs" not in server.requests[1]["body"]
    assert any("refused to return token probabilities" in note for note in analysis.notes)
    assert analysis.answer and analysis.provenance["regions_source"] == "analyst"


def test_configuration_errors(monkeypatch):
    monkeypatch.delenv("ZOOMIN_REMOTE_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(DetectorUnavailable, match="needs a server"):
        RemoteVLM(model="m")
    with pytest.raises(DetectorUnavailable, match="must start with http"):
        RemoteVLM(base_url="localhost:8000", model="m")
    with pytest.raises(DetectorUnavailable, match="applies to the local vlm backend"):
        RemoteVLM(base_url="http://localhost:8000/v1", model="m", quant="4bit")
