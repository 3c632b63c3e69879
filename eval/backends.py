"""Where predictions come from: a local transformers model, an OpenAI-compatible endpoint, or a file.

Every backend answers `predict(items) -> {item id: text}`. Prompts are rendered in the chat template
the model was fine-tuned with: LLaMat's ChatML-like `<|im_start|>system ... <|im_end|>` with
`question` and `answer` turns (the SFT shards' template, `corpus.chat.chatml`) by default, or the
tokenizer's own chat template (`template="tokenizer"`).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from corpus.chat import chatml
from corpus.readers.bounded import loads_bounded

STOP = ("<|im_end|>", "<|im_start|>", "</s>")


def _cut(text: str, stops=STOP) -> str:
    for s in stops:
        text = text.split(s, 1)[0]
    return text.strip()


class PredictionsFile:
    """Predictions made anywhere: JSON Lines of {id, prediction}."""

    name = "predictions"

    def __init__(self, path: str):
        self.predictions = {}
        with open(path, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if line.strip():
                    try:
                        row = loads_bounded(line, what="a prediction")
                        if not isinstance(row, dict) or not isinstance(row.get("prediction"), str) or isinstance(row.get("id"), (dict, list)):
                            raise TypeError("a row is an object with an id and a prediction string")
                        self.predictions[str(row["id"])] = row["prediction"]
                    except (ValueError, KeyError, TypeError) as e:
                        raise ValueError(f"{path}:{n}: expected {{id, prediction}} ({e})") from None

    def predict(self, items) -> dict[str, str]:
        return {i.id: self.predictions[i.id] for i in items if i.id in self.predictions}


class LmEvalSamples(PredictionsFile):
    """Generations an lm-evaluation-harness run made of the tasks `mateval export-lm-eval` wrote (its --log_samples)."""

    def __init__(self, path: str):
        from eval.lm_eval_export import read_samples

        self.name = f"lm-eval:{path}"
        self.predictions = read_samples(path)


class TransformersModel:
    """Batched greedy generation with a local model; generation stops at the template's end-of-turn strings."""

    def __init__(self, path: str, batch_size: int = 8, max_new_tokens: int = 512, template: str = "chatml", device: str | None = None):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.torch, self.batch_size, self.max_new_tokens, self.template = torch, batch_size, max_new_tokens, template
        self.name = f"transformers:{path}"
        self.tokenizer = AutoTokenizer.from_pretrained(path)
        self.tokenizer.padding_side = "left"  # decoder-only: pad on the left so every prompt ends where generation starts
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        dtype = torch.bfloat16 if self.device == "cuda" else torch.float32
        self.model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype).to(self.device).eval()

    def prompt(self, item) -> str:
        if self.template == "tokenizer":
            messages = [{"role": "system", "content": item.system}, {"role": "user", "content": item.question}]
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return chatml(item.system, item.question, "")[0]

    def predict(self, items) -> dict[str, str]:
        out = {}
        ordered = sorted(items, key=lambda i: len(i.question))  # similar lengths per batch: less padding
        for k in range(0, len(ordered), self.batch_size):
            batch = ordered[k : k + self.batch_size]
            enc = self.tokenizer([self.prompt(i) for i in batch], return_tensors="pt", padding=True, add_special_tokens=True).to(self.device)
            with self.torch.no_grad():
                gen = self.model.generate(**enc, max_new_tokens=self.max_new_tokens, do_sample=False, stop_strings=list(STOP),
                                          tokenizer=self.tokenizer, pad_token_id=self.tokenizer.pad_token_id)
            texts = self.tokenizer.batch_decode(gen[:, enc["input_ids"].shape[1]:], skip_special_tokens=False)
            for item, text in zip(batch, texts):
                out[item.id] = _cut(text.replace(self.tokenizer.pad_token, ""))
        return out


class Endpoint:
    """An OpenAI-compatible chat endpoint (vLLM serving the checkpoint, a hosted API); the server applies the template."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, concurrency: int = 8, max_tokens: int = 512,
                 timeout_s: float = 120.0):
        from corpus.chat import OpenAIChat

        self.chat = OpenAIChat(base_url, model, api_key, timeout_s=timeout_s, max_tokens=max_tokens)
        self.name, self.concurrency = f"endpoint:{model}", concurrency

    def predict(self, items) -> dict[str, str]:
        from corpus.chat import ChatError

        def one(item):
            try:
                return item.id, _cut(self.chat.complete([{"role": "system", "content": item.system},
                                                         {"role": "user", "content": item.question}], seed=0))
            except ChatError:
                return item.id, None  # scored as no answer, counted in the run's `failed`

        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            return {i: text for i, text in pool.map(one, items) if text is not None}
