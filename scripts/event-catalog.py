#!/usr/bin/env python3
"""Prints the event catalog of docs/webhooks.md with one real example per event type.

Starts a Parley server (the binary given, default target/debug/parley) on a throwaway SQLite
database, walks through a scenario that causes every event type, and reads the events back from
GET /api/v1/events/{id}. Usage: scripts/event-catalog.py [path/to/parley] > catalog.md
"""

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, HTTPServer

KEY = "pk_catalog_example_key_0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gone(BaseHTTPRequestHandler):
    """A webhook target that has gone away for good."""

    def do_POST(self):
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(410)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def call(base, method, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method)
    request.add_header("X-Api-Key", KEY)
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request) as response:
            text = response.read()
    except urllib.error.HTTPError as error:
        if error.code == 404:
            return None
        raise SystemExit(f"{method} {path}: {error.code} {error.read().decode()}")
    return json.loads(text) if text else {}


def wait_for(condition, what):
    deadline = time.time() + 20
    while time.time() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise SystemExit(f"timed out waiting for {what}")


def scenario(base):
    gone = HTTPServer(("127.0.0.1", 0), Gone)
    threading.Thread(target=gone.serve_forever, daemon=True).start()
    api = lambda method, path, body=None: call(base, method, "/api/v1" + path, body)  # noqa: E731
    channel = api("POST", "/channels", {"kind": "whatsapp", "name": "TechStore Italia", "address": "+393209998877",
                                        "simulation": True})
    inbound = api("POST", f"/channels/{channel['id']}/inbound",
                  {"from": "+393471234567", "name": "Marco Bianchi", "provider_message_id": "wamid.HBgNMzkzNDcxNDg4NDg5",
                   "text": "Buongiorno, vorrei sapere lo stato del mio ordine ORD-2026-1584"})
    conversation = inbound["conversation"]["id"]
    reply = api("POST", f"/conversations/{conversation}/messages",
                {"text": "Buongiorno Marco! Il suo ordine è in fase di spedizione."})
    wait_for(lambda: api("GET", f"/conversations/{conversation}/messages")["data"][-1]["status"] == "read",
             "the simulated reply to be read")
    api("PATCH", f"/conversations/{conversation}", {"assignee_id": 1})
    api("POST", f"/conversations/{conversation}/read", {})
    api("PATCH", f"/conversations/{conversation}", {"status": "resolved"})
    api("POST", f"/conversations/{conversation}/archive", {})
    contact = inbound["conversation"]["contact"]["id"]
    api("PATCH", f"/contacts/{contact}", {"email": "marco.bianchi@example.com"})
    duplicate = api("POST", "/contacts", {"name": "Marco B.", "phone": "+393471230000"})
    api("POST", f"/contacts/{contact}/merge", {"contact_id": duplicate["id"]})
    stranger = api("POST", "/contacts", {"name": "Wrong Number"})
    api("DELETE", f"/contacts/{stranger['id']}")
    api("DELETE", f"/conversations/{conversation}/messages/{reply['id']}")
    hook = api("POST", "/webhooks", {"url": "https://crm.example.com/parley", "event_types": ["message.*"]})
    api("POST", f"/webhooks/{hook['id']}/test", {})
    target = f"http://127.0.0.1:{gone.server_address[1]}/hook"
    doomed = api("POST", "/webhooks", {"url": target, "event_types": ["message.created"]})
    api("POST", f"/channels/{channel['id']}/inbound", {"from": "+393471234567", "text": "Grazie!"})
    wait_for(lambda: not api("GET", f"/webhooks/{doomed['id']}")["active"], "the 410 to disable the subscription")
    support = api("POST", "/channels", {"kind": "whatsapp", "name": "TechStore Assistenza", "address": "+393209998878",
                                        "simulation": True})
    api("POST", "/agents", {"name": "Clara", "engine": "knowledge_base", "languages": ["it", "en"],
                            "channels": [{"channel_id": support["id"], "answers_first": True}]})
    asked = api("POST", f"/channels/{support['id']}/inbound",
                {"from": "+393471234567", "text": "Posso parlare con un operatore?"})
    wait_for(lambda: api("GET", f"/conversations/{asked['conversation']['id']}")["handler"] == "human",
             "the virtual agent to hand the conversation to people")


def examples(base):
    found = {}
    event_id = 1
    while True:
        event = call(base, "GET", f"/api/v1/events/{event_id}")
        if event is None:
            break
        key = event["type"]
        if key == "message.created":
            key += " (" + event["data"]["direction"] + ")"
        found.setdefault(key, event)
        event_id += 1
    return found


def main():
    binary = sys.argv[1] if len(sys.argv) > 1 else "target/debug/parley"
    port = free_port()
    with tempfile.TemporaryDirectory() as data:
        env = dict(os.environ, PARLEY_DATA_DIR=data, PARLEY_LISTEN=f"127.0.0.1:{port}", PARLEY_BOOTSTRAP_API_KEY=KEY,
                   PARLEY_WEBHOOK_ALLOW_PRIVATE="true", PARLEY_SIMULATION_STEP_MS="50", PARLEY_JOB_POLL_MS="20",
                   PARLEY_AGENT_DEBOUNCE_MS="0")
        env.pop("PARLEY_DATABASE_URL", None)
        server = subprocess.Popen([binary], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_for(lambda: subprocess.run(["curl", "-sf", base + "/healthz"], capture_output=True).returncode == 0,
                     "the server")
            scenario(base)
            found = examples(base)
            catalog = call(base, "GET", "/api/v1/webhooks/event-types")["data"]
        finally:
            server.terminate()
            server.wait()
    for entry in catalog:
        keys = [k for k in found if k == entry["type"] or k.startswith(entry["type"] + " (")]
        if not keys:
            raise SystemExit(f"the scenario caused no {entry['type']} event")
        for key in sorted(keys):
            print(f"### `{key}`\n\n{entry['description']}\n\n```json\n{json.dumps(found[key], indent=2, ensure_ascii=False)}\n```\n")


if __name__ == "__main__":
    main()
