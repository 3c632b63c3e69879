"""The teacher client against a local HTTP server speaking the chat-completions API (recorded responses with a 429,
a timeout and malformed output on the way), its cache, its checks, and the local transformers backend."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import SAMPLES

PASSAGES = [
    ("p0", "LiFePO4 cathodes were synthesised by a solid-state reaction at 700 °C for 10 h under argon. The discharge capacity "
           "reached 160 mAh/g at 0.1C, and the carbon coating improved the rate capability of the olivine cathode."),
    ("p1", "Yttria-stabilised zirconia electrolytes were sintered at 1450 °C. Their ionic conductivity was 0.1 S/cm at 1000 °C, "
           "which makes them the standard electrolyte of solid oxide fuel cells."),
    ("p2", "Perovskite BaTiO3 shows a tetragonal to cubic transition at the Curie temperature of 120 °C, above which the "
           "ferroelectric polarisation vanishes and the dielectric constant peaks."),
]
GOOD = {
    "p0": [{"question": "At what temperature was LiFePO4 synthesised?", "answer": "700 °C for 10 h under argon"},
           {"question": "What discharge capacity did the cathode reach at 0.1C?", "answer": "160 mAh/g"},
           {"question": "What improved the rate capability?", "answer": "the carbon coating"}],
    "p1": [{"question": "What was the ionic conductivity of the electrolyte at 1000 °C?", "answer": "0.1 S/cm"},
           {"question": "At what temperature were the electrolytes sintered?", "answer": "1450 °C"},
           {"question": "What was the ionic conductivity of the electrolyte at 1000 °C?", "answer": "0.1 S/cm"}],  # repeated
    "p2": [{"question": "What is the Curie temperature of BaTiO3?", "answer": "120 °C"},
           {"question": "What band gap does BaTiO3 have?", "answer": "3.2 eV"},  # a number the passage does not state
           {"question": "Which phase does BaTiO3 take above the transition?", "answer": "a hexagonal magnetic glass phase"}],
}
# per passage, what the server does on its 1st, 2nd, ... request for it
SCRIPT = {"p0": ["429", "slow", "garbage", "ok"], "p1": ["ok"], "p2": ["500", "ok"]}


def _completion(model: str, content: str) -> dict:
    return {"id": "x", "object": "chat.completion", "created": 0, "model": model,
            "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}]}


class Server:
    """A chat-completions endpoint on loopback; `respond(body)` decides each answer: (status, payload, headers)."""

    def __init__(self):
        self.calls: dict[str, int] = {}
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    def respond(self, body: dict) -> tuple[int, dict, dict]:
        """The recorded script: per passage, its n-th request gets SCRIPT[passage][n]."""
        prompt = body["messages"][-1]["content"]
        pid = next(p for p, text in PASSAGES if text in prompt)
        with self.lock:
            n = self.calls.get(pid, 0)
            self.calls[pid] = n + 1
        action = SCRIPT[pid][min(n, len(SCRIPT[pid]) - 1)]
        if action in ("429", "500"):
            return int(action), {"error": {"message": "busy"}}, {"retry-after-ms": "10"}
        if action == "slow":
            import time

            time.sleep(1.5)  # past the client's timeout
        content = "Sure! Here are some questions: [{\"question\": " if action == "garbage" else json.dumps(GOOD[pid])
        return 200, _completion(body["model"], content), {}

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                code, payload, headers = server.respond(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                data = json.dumps(payload).encode()
                try:
                    self.send_response(code)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout)
                    pass

        return Handler

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def _generate(url, cache_path):
    from qa_synth.teacher import OpenAIChat, ResponseCache, generate

    cache = ResponseCache(str(cache_path))
    try:
        return generate(PASSAGES, OpenAIChat(url, "recorded", timeout_s=0.5, max_retries=3), cache, pairs_per_passage=3,
                        concurrency=3, attempts=3, seed=11)
    finally:
        cache.close()


def test_teacher_survives_429_timeouts_and_garbage_without_losing_or_duplicating(tmp_path):
    with Server() as server:
        pairs, counts, missing = _generate(server.url, tmp_path / "cache.sqlite")
        calls = dict(server.calls)
    assert missing == []
    got = [(p.id.split(":")[1], p.question.rsplit("\n\n", 1)[1], p.answer) for p in pairs]
    expected = [("p0", q["question"], q["answer"]) for q in GOOD["p0"]] + \
               [("p1", q["question"], q["answer"]) for q in GOOD["p1"][:2]] + [("p2", GOOD["p2"][0]["question"], GOOD["p2"][0]["answer"])]
    assert got == expected  # passage order, every supported pair once
    assert len({p.id for p in pairs}) == len(pairs)
    assert counts == {"unparsable_response": 1, "repeated_in_response": 1, "unsupported_number": 1, "unsupported_answer": 1}
    assert calls == {"p0": 4, "p1": 1, "p2": 2}  # 429 and the timeout retried by the client, the garbage asked again by us
    assert all(p.question.startswith(text) for p in pairs for pid, text in PASSAGES if p.id.split(":")[1] == pid)


def test_teacher_rerun_is_served_from_the_cache(tmp_path):
    with Server() as server:
        first = _generate(server.url, tmp_path / "cache.sqlite").pairs
        calls = dict(server.calls)
        second = _generate(server.url, tmp_path / "cache.sqlite").pairs
        assert server.calls == calls  # nothing paid twice
    assert [p.__dict__ for p in first] == [p.__dict__ for p in second]


def test_a_dead_endpoint_loses_no_passage_silently(tmp_path):
    from qa_synth.teacher import OpenAIChat, ResponseCache, generate

    cache = ResponseCache(str(tmp_path / "c.sqlite"))
    pairs, counts, missing = generate(PASSAGES[:2], OpenAIChat("http://127.0.0.1:9/v1", "none", timeout_s=0.2, max_retries=0), cache, attempts=2)
    assert pairs == [] and counts == {"request_failed": 4, "passage_without_pairs": 2}
    assert [m["passage"] for m in missing] == ["p0", "p1"] and all("Connection" in m["last_error"] for m in missing)
    assert cache.db.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == 0  # failures are not cached: a rerun asks again


def test_check_pair_rules():
    from qa_synth.teacher import check_pair, parse_pairs

    passage = PASSAGES[0][1]
    assert check_pair({"question": "What capacity was reached?", "answer": "160 mAh/g"}, passage) is None
    assert check_pair({"question": "What capacity was reached?", "answer": "170 mAh/g"}, passage) == "unsupported_number"
    assert check_pair({"question": "Why?", "answer": "x"}, passage) == "too_short"
    assert check_pair({"question": "What coating?", "answer": None}, passage) == "malformed_pair"
    assert check_pair({"question": "What is the anode made of here?", "answer": "graphite anode with silicon"}, passage) == "unsupported_answer"
    assert parse_pairs('```json\n[{"question": "a", "answer": "b"}]\n```') == [{"question": "a", "answer": "b"}]
    assert parse_pairs("no json") is None and parse_pairs('[{"question": ') is None


def test_teacher_with_a_tiny_local_transformers_model(tmp_path):
    torch = pytest.importorskip("torch")
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from qa_synth.teacher import ResponseCache, generate, teacher_backend

    torch.manual_seed(0)
    model_dir = tmp_path / "tiny"
    LlamaForCausalLM(LlamaConfig(vocab_size=32000, hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                                 num_key_value_heads=4, max_position_embeddings=512)).save_pretrained(model_dir)
    AutoTokenizer.from_pretrained(str(SAMPLES / "tokenizers" / "llama2")).save_pretrained(model_dir)
    backend = teacher_backend({"model_path": str(model_dir), "max_new_tokens": 12})
    cache = ResponseCache(str(tmp_path / "c.sqlite"))
    pairs, counts, missing = generate(PASSAGES[:2], backend, cache, attempts=1)
    # an untrained model answers noise: every response is generated and rejected as unparsable, none lost, and
    # nothing unusable is cached (a rerun asks again)
    assert pairs == [] and counts == {"unparsable_response": 2, "passage_without_pairs": 2} and len(missing) == 2
    assert cache.db.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == 0


class EchoTeacher(Server):
    """A chat-completions server that asks, for any passage, about its first sentence's opening words."""

    def respond(self, body: dict) -> tuple[int, dict, dict]:
        with self.lock:
            self.calls["all"] = self.calls.get("all", 0) + 1
        words = body["messages"][-1]["content"].split("Passage:\n", 1)[1].split()
        content = json.dumps([{"question": "Which words open this passage of the paper?", "answer": " ".join(words[:8])}])
        return 200, _completion(body["model"], content), {}


def test_qa_synth_build_with_a_teacher_over_a_corpus_build(tmp_path, monkeypatch):
    """Passages of a corpus build's kept documents -> teacher pairs in pairs.jsonl and the shards; skipped without an endpoint."""
    import yaml
    import zstandard

    from qa_synth.cli import build

    kept = tmp_path / "build" / "work" / "kept" / "papers"
    kept.mkdir(parents=True)
    docs = [{"id": f"doc{i}", "text": "\n\n".join(f"{text} (section {k} of document {i})" for k in range(12)), "metadata": {}}
            for i, (_, text) in enumerate(PASSAGES)]
    (kept / "00000.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress("".join(json.dumps(d) + "\n" for d in docs).encode()))
    manifest = {"name": "t", "output_dir": "out", "seed": 1, "validation_fraction": 0.0,
                "tokenizer": {"path": str(SAMPLES / "tokenizers" / "llama2")}, "seq_len": 256, "global_batch_size": 2,
                "sources": [{"name": "teacher", "kind": "teacher", "base_url_env": "TEST_TEACHER_URL", "model": "echo",
                             "passages": [str(kept)], "max_passages": 50, "cache": str(tmp_path / "cache.sqlite")}]}
    (tmp_path / "m.yaml").write_text(yaml.safe_dump(manifest))
    monkeypatch.delenv("TEST_TEACHER_URL", raising=False)
    skipped = build(str(tmp_path / "m.yaml"), str(tmp_path / "out0"))
    assert skipped["pairs"] == 0 and "TEST_TEACHER_URL" in skipped["notes"]["teacher"]
    with EchoTeacher() as server:
        monkeypatch.setenv("TEST_TEACHER_URL", server.url)
        summary = build(str(tmp_path / "m.yaml"), str(tmp_path / "out"))
        passages = summary["notes"]["teacher"]["passages"]
        assert server.calls["all"] == passages >= 6  # each document's paragraphs in several windows
    pairs = [json.loads(x) for x in (tmp_path / "out" / "pairs.jsonl").read_text().splitlines()]
    assert summary["pairs"] == len(pairs) == passages  # one checked pair per passage, none lost or repeated
    assert all(p["source"] == "teacher" and p["task"] == "passage_qa" and p["question"].endswith("Which words open this passage of the paper?")
               for p in pairs)
    assert summary["answer_tokens"] > 0
