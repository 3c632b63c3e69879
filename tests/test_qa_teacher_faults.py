"""qa-synth's teacher against a faulty chat-completions server on loopback: 429 with Retry-After, 500, timeouts,
bodies that are not JSON, HTML error pages, JSON of the wrong shape, empty choices and content, truncated bodies and
reset connections. No response may end the build; every passage is answered, or listed as missing with its last error
(and the build exits 1); reruns ask only for what is missing and converge to every pair, none duplicated."""

import hashlib
import json
import random
import re
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import yaml
import zstandard

from conftest import SAMPLES

FAULTS = ["429", "500", "slow", "not_json", "html_page", "wrong_schema", "no_choices", "empty_content", "truncated", "reset"]
DOCS = [f"Sample {i} of the alloy series was annealed at {500 + 10 * i} °C for {i + 1} h, and its hardness rose by {i + 3} percent "
        f"while the grain size of phase {chr(65 + i % 26)} fell to {i + 2} micrometres in every specimen measured." for i in range(16)]


class FaultyTeacher:
    """Per passage (by its text), a seeded script of faults before it answers; it answers with the passage's opening
    words. The server stops itself after `lifetime_s` whatever the test does."""

    def __init__(self, seed: int = 3, lifetime_s: float = 120.0):
        self.seed = seed
        self.scripts: dict[str, list[str]] = {}
        self.calls: dict[str, int] = {}
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.stopper = threading.Timer(lifetime_s, self.httpd.shutdown)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def action(self, passage: str) -> str:
        key = hashlib.sha1(passage.encode()).hexdigest()
        with self.lock:
            if key not in self.scripts:
                # drawn from the passage itself, not from the order the client's threads happen to ask in (a shared
                # generator gave each passage another script from run to run, and a run could miss a kind of fault):
                # sample i's passages open with fault i (every kind is served), then up to three drawn ones
                rng = random.Random(f"{self.seed}:{key}")
                sample = re.search(r"Sample (\d+) of", passage)
                first = [FAULTS[int(sample.group(1)) % len(FAULTS)]] if sample else []
                self.scripts[key] = first + [rng.choice(FAULTS) for _ in range(rng.randrange(0, 4))]
            script = self.scripts[key]
            n = self.calls.get(key, 0)
            self.calls[key] = n + 1
        return script[n] if n < len(script) else "ok"

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def send(self, code: int, body: bytes, ctype: str = "application/json", headers: dict | None = None, length: int | None = None):
                self.send_response(code)
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body) if length is None else length))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                passage = body["messages"][-1]["content"].split("Passage:\n", 1)[1]
                action = server.action(passage)
                ok = {"id": "x", "object": "chat.completion", "created": 0, "model": body["model"],
                      "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": json.dumps(
                          [{"question": "Which words open this passage of the paper?", "answer": " ".join(passage.split()[:8])}])}}]}
                try:
                    if action == "429":
                        self.send(429, b'{"error": {"message": "slow down"}}', headers={"Retry-After": "0"})
                    elif action == "500":
                        self.send(500, b'{"error": {"message": "boom"}}')
                    elif action == "slow":
                        import time

                        time.sleep(0.8)  # past the client's timeout
                        self.send(200, json.dumps(ok).encode())
                    elif action == "not_json":
                        self.send(200, b"this is not json at all {")
                    elif action == "html_page":
                        self.send(200, b"<html><body><h1>502 Bad Gateway</h1></body></html>", ctype="text/html")
                    elif action == "wrong_schema":
                        self.send(200, b'{"result": "ok", "data": [1, 2, 3]}')
                    elif action == "no_choices":
                        self.send(200, json.dumps({**ok, "choices": []}).encode())
                    elif action == "empty_content":
                        ok["choices"][0]["message"]["content"] = None
                        self.send(200, json.dumps(ok).encode())
                    elif action == "truncated":
                        data = json.dumps(ok).encode()
                        self.send(200, data[: len(data) // 2], length=len(data))
                        self.close_connection = True
                    elif action == "reset":
                        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                        self.connection.close()
                        self.close_connection = True
                    else:
                        self.send(200, json.dumps(ok).encode())
                except (BrokenPipeError, ConnectionResetError, OSError):
                    pass

        return Handler

    def __enter__(self):
        self.thread.start()
        self.stopper.start()
        return self

    def __exit__(self, *exc):
        self.stopper.cancel()
        self.httpd.shutdown()
        self.httpd.server_close()


def _manifest(tmp_path, url: str, **extra) -> str:
    kept = tmp_path / "build" / "work" / "kept" / "papers"
    kept.mkdir(parents=True, exist_ok=True)
    docs = [{"id": f"doc{i}", "text": "\n\n".join(f"{text} Section {k}." for k in range(6)), "metadata": {}} for i, text in enumerate(DOCS)]
    (kept / "00000.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress("".join(json.dumps(d) + "\n" for d in docs).encode()))
    manifest = {"name": "faults", "output_dir": "out", "seed": 1, "validation_fraction": 0.0,
                "tokenizer": {"path": str(SAMPLES / "tokenizers" / "llama2")}, "seq_len": 256, "global_batch_size": 2,
                "sources": [{"name": "teacher", "kind": "teacher", "base_url": url, "model": "faulty", "passages": [str(kept)],
                             "attempts": 2, "max_retries": 1, "timeout_s": 0.4, "concurrency": 4,
                             "cache": str(tmp_path / "cache.sqlite"), **extra}]}
    path = tmp_path / "m.yaml"
    path.write_text(yaml.safe_dump(manifest))
    return str(path)


def test_no_response_ends_the_build_missing_passages_are_listed_and_reruns_converge(tmp_path, capsys):
    from qa_synth.cli import main

    with FaultyTeacher() as server:
        manifest = _manifest(tmp_path, server.url)
        out = tmp_path / "out"
        codes, histories = [], []
        for _ in range(6):
            codes.append(main(["build", manifest, "--output", str(out)]))
            summary = json.loads((out / "summary.json").read_text())
            pairs = [json.loads(x) for x in (out / "pairs.jsonl").read_text().splitlines()]
            passages = summary["notes"]["teacher"]["passages"]
            missing = summary["missing_passages"]
            # every passage is answered (one checked pair each) or listed as missing with its last error
            assert len(pairs) + len(missing) == passages and len({p["id"] for p in pairs}) == len(pairs)
            assert all(m["last_error"] and m["attempts"] == 2 for m in missing)
            assert (codes[-1] == 1) == bool(missing)
            histories.append(len(missing))
            if len(histories) == 1:
                first_md = (out / "summary.md").read_text()
            if not missing:
                break
        faults_seen = {f for script in server.scripts.values() for f in script}
    assert histories[0] > 0 and histories[-1] == 0, histories  # some passages missed at first, none in the end
    assert histories == sorted(histories, reverse=True)  # reruns only ever fill in
    assert codes[-1] == 0 and passages >= 16
    assert {"not_json", "html_page", "wrong_schema", "no_choices", "truncated", "reset"} <= faults_seen
    assert "missing_passages" in capsys.readouterr().err
    assert "without a usable response" in first_md


def test_allow_missing_exits_zero_and_still_lists_them(tmp_path):
    from qa_synth.cli import main

    manifest = _manifest(tmp_path, "http://127.0.0.1:9/v1", allow_missing=True, max_retries=0)
    assert main(["build", manifest, "--output", str(tmp_path / "out")]) == 0
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["pairs"] == 0 and len(summary["missing_passages"]) == summary["notes"]["teacher"]["passages"] > 0
