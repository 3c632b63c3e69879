"""Paper-grounded teacher generation: passages of a built corpus -> a teacher model's question-answer pairs -> checked pairs.

Backends (`teacher_backend(config)`):
  - `OpenAIChat`: any OpenAI-compatible chat-completions endpoint (vLLM, llama.cpp server, a hosted
    API) through the `openai` client, which retries 408/409/429/5xx and timeouts with exponential
    backoff (honouring Retry-After); the base URL and model come from the manifest, the key from
    the environment variable the manifest names (never from the manifest itself).
  - `TransformersChat`: a local `transformers` causal LM, prompted in LLaMat's ChatML template.

`generate(passages, backend, cache, ...)` asks for pairs per passage with bounded concurrency. Every
response is stored in a SQLite cache keyed by the request, so a rerun or a resumed run pays only for
what it has not got yet; a response that cannot be used (an error, a body that is not JSON, no choices, no
content, no JSON list in it) is a failed attempt, asked again up to `attempts` times and never cached;
passages whose attempts are all spent are returned as `missing`, with the last error. Pairs are kept only when they pass `check_pair`: parsable, length bounds,
and supported by the passage (most of the answer's content words and every number in it occur in
the passage). The result is in passage order whatever order the responses came back in, so the same
responses give the same pairs.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

from corpus.chat import ChatError, OpenAIChat
from corpus.tasks.pairs import QAPair

SYSTEM_TEACHER = ("You write exam questions for materials scientists. Every question must be answerable from the passage alone, "
                  "and every answer must be stated in the passage.")
INSTRUCTION = ("Write {n} question-answer pairs about the passage below. Reply with only a JSON list of objects with the keys "
               "\"question\" and \"answer\"; keep answers short and use the passage's own words and numbers.\n\nPassage:\n{passage}")
SYSTEM_STUDENT = "You are a materials science expert. Answer the question about the passage."

_WORD = re.compile(r"[a-z][a-z0-9\-]{2,}")
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?")
_STOP = frozenset("the and for are was were with that this from which what when where how why who does did has have had "
                  "its their there these those than then into onto over under been being can could would should will not "
                  "also such each other more most some any all both only very using used use".split())


class TransformersChat:
    """Greedy generation from a local model directory; the prompt is LLaMat's ChatML template, cut at <|im_end|>."""

    def __init__(self, path: str, max_new_tokens: int = 256):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.path, self.max_new_tokens, self.torch = path, max_new_tokens, torch
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.model = AutoModelForCausalLM.from_pretrained(path).eval()
        self.lock = threading.Lock()  # one generation at a time: the model is not re-entrant

    @property
    def name(self) -> str:
        return f"transformers:{os.path.basename(os.path.normpath(self.path))}"

    def complete(self, messages: list[dict], seed: int) -> str:
        prompt = "".join(f"<|im_start|>{m['role']}\n{m['content']}<|im_end|>\n" for m in messages) + "<|im_start|>assistant\n"
        with self.lock, self.torch.no_grad():
            ids = self.tokenizer(prompt, return_tensors="pt")
            out = self.model.generate(**ids, max_new_tokens=self.max_new_tokens, do_sample=False,
                                      pad_token_id=self.tokenizer.eos_token_id)
        return self.tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True).split("<|im_end|>")[0]


def teacher_backend(config: dict):
    """The backend a manifest's `teacher` block names: {base_url, model, api_key_env, ...} or {model_path}."""
    if config.get("model_path"):
        return TransformersChat(config["model_path"], int(config.get("max_new_tokens", 256)))
    key_env = config.get("api_key_env")
    return OpenAIChat(config["base_url"], config["model"], os.environ.get(key_env) if key_env else None,
                      float(config.get("timeout_s", 60)), int(config.get("max_retries", 5)),
                      float(config.get("temperature", 0.0)), int(config.get("max_tokens", 1024)))


class ResponseCache:
    """request hash -> response text, in SQLite (safe across threads with one lock, durable across runs)."""

    def __init__(self, path: str):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.db = sqlite3.connect(path, check_same_thread=False)
        self.db.execute("CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, backend TEXT, response TEXT)")
        self.lock = threading.Lock()

    @staticmethod
    def key(backend: str, messages: list[dict], seed: int) -> str:
        return hashlib.sha256(json.dumps([backend, messages, seed], sort_keys=True).encode()).hexdigest()

    def get(self, key: str) -> str | None:
        with self.lock:
            row = self.db.execute("SELECT response FROM responses WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def put(self, key: str, backend: str, response: str) -> None:
        with self.lock:
            self.db.execute("INSERT OR REPLACE INTO responses VALUES (?, ?, ?)", (key, backend, response))
            self.db.commit()

    def close(self) -> None:
        self.db.close()


def parse_pairs(text: str) -> list[dict] | None:
    """The JSON list in a response (also inside a ```json fence or after some prose), or None."""
    start, end = text.find("["), text.rfind("]")
    if start < 0 or end <= start:
        return None
    try:
        data = json.loads(text[start : end + 1])
    except json.JSONDecodeError:
        return None
    if not isinstance(data, list):
        return None
    return [d for d in data if isinstance(d, dict)]


def _content_words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def check_pair(item: dict, passage: str, min_support: float = 0.6, max_question: int = 600, max_answer: int = 1200) -> str | None:
    """None when the pair is usable, else the reason it is not."""
    question, answer = item.get("question"), item.get("answer")
    if not isinstance(question, str) or not isinstance(answer, (str, int, float)):
        return "malformed_pair"
    question, answer = question.strip(), str(answer).strip()
    if len(question) < 10 or not answer:
        return "too_short"
    if len(question) > max_question or len(answer) > max_answer:
        return "too_long"
    if any(n not in passage for n in _NUMBER.findall(answer)):
        return "unsupported_number"
    words = _content_words(answer)
    known = _content_words(passage)
    if words and len(words & known) / len(words) < min_support:
        return "unsupported_answer"
    return None


def passages_from_build(folders: Iterable[str], max_chars: int = 2000, min_chars: int = 400) -> Iterator[tuple[str, str]]:
    """(passage id, text) windows of whole paragraphs from a corpus build's kept documents (OUT/work/kept/<component>/)."""
    from datatrove.pipeline.readers import JsonlReader

    for folder in folders:
        for doc in JsonlReader(folder, glob_pattern="*.jsonl*", compression="infer", text_key="text", id_key="id")():
            window, k = [], 0
            for para in (p.strip() for p in doc.text.split("\n\n")):
                if not para or para.startswith("#"):
                    continue
                window.append(para)
                if sum(map(len, window)) >= max_chars:
                    yield f"{doc.id}:{k}", "\n\n".join(window)[: max_chars * 2]
                    window, k = [], k + 1
            if window and sum(map(len, window)) >= min_chars:
                yield f"{doc.id}:{k}", "\n\n".join(window)


class Generation(NamedTuple):
    pairs: list[QAPair]  # checked pairs, in passage order
    counts: Counter  # what was not kept, by reason
    missing: list[dict]  # passages whose every attempt failed: {"passage": id, "attempts": n, "last_error": text}


def generate(passages: list[tuple[str, str]], backend, cache: ResponseCache, pairs_per_passage: int = 3, concurrency: int = 4,
             attempts: int = 3, seed: int = 0, source: str = "teacher") -> Generation:
    """Checked pairs for every passage, in passage order, counts of what was not kept (by reason), and the passages
    that got no usable response in `attempts` tries. Only usable (parsable) responses are cached, so a rerun asks
    again exactly for what is missing."""
    counts: Counter = Counter()
    missing: dict[str, dict] = {}
    lock = threading.Lock()

    def one(passage_id: str, passage: str) -> list[QAPair]:
        messages = [{"role": "system", "content": SYSTEM_TEACHER},
                    {"role": "user", "content": INSTRUCTION.format(n=pairs_per_passage, passage=passage)}]
        keys = [ResponseCache.key(backend.name, messages, seed + attempt) for attempt in range(attempts)]
        # a usable answer of an earlier run, whichever attempt got it: a rerun asks only for what is missing
        items = next((parsed for key in keys if (text := cache.get(key)) is not None and (parsed := parse_pairs(text)) is not None), None)
        last_error = ""
        for attempt, key in enumerate(keys if items is None else []):
            try:
                text = backend.complete(messages, seed + attempt)
            except Exception as e:  # noqa: BLE001 - ChatError, or anything a local backend raises: one failed attempt
                last_error = str(e) if isinstance(e, ChatError) else f"{type(e).__name__}: {e}"
                with lock:
                    counts["request_failed"] += 1
                continue  # not cached: a rerun asks again
            items = parse_pairs(text)
            if items is not None:
                cache.put(key, backend.name, text)
                break
            last_error = f"unparsable response: {text[:200]!r}"
            with lock:
                counts["unparsable_response"] += 1
        if items is None:
            with lock:
                counts["passage_without_pairs"] += 1
                missing[passage_id] = {"passage": passage_id, "attempts": attempts, "last_error": last_error[:500]}
            return []
        out, seen = [], set()
        for n, item in enumerate(items[: pairs_per_passage * 2]):
            reason = check_pair(item, passage)
            if reason is None and item["question"].strip().lower() in seen:
                reason = "repeated_in_response"
            if reason:
                with lock:
                    counts[reason] += 1
                continue
            seen.add(item["question"].strip().lower())
            question = f"{passage}\n\n{item['question'].strip()}"
            out.append(QAPair(f"teacher:{passage_id}:{n}", source, "passage_qa", SYSTEM_STUDENT, question, str(item["answer"]).strip(),
                              context=passage))
        return out

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        results = list(pool.map(lambda p: one(*p), passages))  # map keeps passage order
    return Generation([p for r in results for p in r], counts, [missing[pid] for pid, _ in passages if pid in missing])
