"""A chat-completions server on 127.0.0.1 for the remote backend's batch tests
and benchmark: it answers each request after `delay` seconds, counts the
requests in flight, and can answer 429 or 503 (Retry-After: 0) first.

Its answers depend only on the request (a box placed by a hash of the image
sent), so a result mixed up between concurrent requests shows."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

EXAMINE_ANSWER = ('<think>The zoomed region is smoother than the rest of the photograph.</think>\n'
                  '<regions>[{"region": 1, "artifact": true, "finding": "texture is smoother than its '
                  'surroundings"}]</regions>\n<verdict>{verdict}</verdict>')


def _answer(body: dict) -> str:
    texts, images = [], []
    for message in body.get("messages", []):
        content = message.get("content")
        for part in content if isinstance(content, list) else [{"type": "text", "text": content}]:
            (images if part.get("type") == "image_url" else texts).append(
                part.get("image_url", {}).get("url", "") if part.get("type") == "image_url" else part.get("text", ""))
    digest = hashlib.sha256(images[0].encode() if images else b"").digest()
    if "finish with your verdict" in " ".join(texts):
        return EXAMINE_ANSWER.replace("{verdict}", "generated" if digest[0] % 2 else "real")
    x, y = 40 + digest[1], 40 + digest[2]
    return ('```json\n[{"bbox_2d": [%d, %d, %d, %d], "label": "patch", "reason": "smoother"}]\n```'
            % (x, y, x + 120, y + 120))


class StubChatServer:
    def __init__(self, delay: float = 0.0, fail_every: dict[int, int] | None = None, slow_every: int = 0):
        """`fail_every`: {status: n} answers `status` to every n-th request first seen;
        `slow_every`: every n-th request waits 3x `delay`."""
        self.delay, self.fail_every, self.slow_every = delay, fail_every or {}, slow_every
        self.lock = threading.Lock()
        self.seen = self.open = self.peak = 0
        self.refused: dict[int, int] = {}
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with server.lock:
                    server.seen += 1
                    number = server.seen
                    server.open += 1
                    server.peak = max(server.peak, server.open)
                try:
                    status = next((s for s, n in server.fail_every.items() if number % n == 0), 200)
                    wait = server.delay * (3 if server.slow_every and number % server.slow_every == 0 else 1)
                    time.sleep(wait if status == 200 else 0)
                    if status != 200:
                        with server.lock:
                            server.refused[status] = server.refused.get(status, 0) + 1
                        self._send(status, {"error": "busy"}, retry_after="0")
                        return
                    self._send(200, {"id": "c", "object": "chat.completion", "model": "stub",
                                     "choices": [{"index": 0, "finish_reason": "stop",
                                                  "message": {"role": "assistant", "content": _answer(body)}}],
                                     "usage": {"prompt_tokens": 10, "completion_tokens": 10}})
                finally:
                    with server.lock:
                        server.open -= 1

            def _send(self, status, payload, retry_after=None):
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                if retry_after is not None:
                    self.send_header("Retry-After", retry_after)
                self.end_headers()
                self.wfile.write(data)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.request_queue_size = 64
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
