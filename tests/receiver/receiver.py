"""A webhook receiver for Parley's tests: verifies every request with the official Standard
Webhooks library and records what it accepted.

Prints `listening <port>` once ready. Control it over HTTP:
  POST /_control  {"secrets": ["whsec_..."], "mode": "ok" | "fail" | "slow" | "gone" | "retry_after",
                   "delay": seconds (slow), "retry_after": header value (retry_after)}
  GET  /_events   {"received": [{"id", "timestamp", "payload"}...], "rejected": n, "attempts": n}
Every other POST is a webhook. In "ok" mode a verified webhook is recorded and answered 200;
"fail" answers 500, "gone" 410, "retry_after" 503 with a Retry-After header, "slow" waits `delay`
seconds before recording and answering 200. A webhook no secret
verifies is answered 400 and counted as rejected.
"""

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks.webhooks import Webhook, WebhookVerificationError

lock = threading.Lock()
state = {"secrets": [], "mode": "ok", "delay": 0.0, "retry_after": "1", "received": [], "rejected": 0, "attempts": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def answer(self, status, body=b"", headers=None):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def do_GET(self):
        if self.path != "/_events":
            return self.answer(404)
        with lock:
            snapshot = {k: state[k] for k in ("received", "rejected", "attempts")}
        self.answer(200, json.dumps(snapshot).encode(), {"Content-Type": "application/json"})

    def do_POST(self):
        raw = self.body()
        if self.path == "/_control":
            with lock:
                state.update(json.loads(raw))
            return self.answer(204)
        headers = {name: value for name, value in self.headers.items()}
        with lock:
            state["attempts"] += 1
            secrets, mode = list(state["secrets"]), state["mode"]
            delay, retry_after = state["delay"], state["retry_after"]
        payload = None
        for secret in secrets:
            try:
                payload = Webhook(secret).verify(raw, headers)
                break
            except WebhookVerificationError:
                continue
        if payload is None:
            with lock:
                state["rejected"] += 1
            return self.answer(400, b"bad signature")
        if mode == "fail":
            return self.answer(500, b"receiver failing on purpose")
        if mode == "gone":
            return self.answer(410, b"gone")
        if mode == "retry_after":
            return self.answer(503, b"busy", {"Retry-After": retry_after})
        if mode == "slow":
            time.sleep(delay)
        # Recorded before answering, so whoever sees the answer also sees the record.
        with lock:
            state["received"].append(
                {"id": headers.get("webhook-id"), "timestamp": headers.get("webhook-timestamp"), "payload": payload}
            )
        try:
            self.answer(200, b"ok")
        except OSError:
            pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.daemon_threads = True
    print(f"listening {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
