"""The chat layer qa-synth's teacher and mateval's endpoint backend share: LLaMat's ChatML template and an
OpenAI-compatible chat client that turns every unusable response into one `ChatError`.

A neutral module below both packages (it imports nothing of the project), so neither imports the other.
"""

from __future__ import annotations


def chatml(system: str, question: str, answer: str) -> tuple[str, str]:
    """(prompt, answer) in LLaMat's template: system, question and answer turns between <|im_start|> and <|im_end|>."""
    prompt = f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>question\n{question}<|im_end|>\n<|im_start|>answer\n"
    return prompt, f"{answer}<|im_end|>"


class ChatError(RuntimeError):
    """A request that failed after the client's own retries, or whose response cannot be used."""


class OpenAIChat:
    """Any OpenAI-compatible chat-completions endpoint (vLLM, llama.cpp server, a hosted API) through the `openai`
    client, which retries 408/409/429/5xx and timeouts with backoff (honouring Retry-After)."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None, timeout_s: float = 60.0, max_retries: int = 5,
                 temperature: float = 0.0, max_tokens: int = 1024):
        from openai import OpenAI

        self.model, self.temperature, self.max_tokens = model, temperature, max_tokens
        # a local server needs no key, but the client insists on one
        self.client = OpenAI(base_url=base_url, api_key=api_key or "not-needed", timeout=timeout_s, max_retries=max_retries)

    @property
    def name(self) -> str:
        return f"openai:{self.model}"

    def complete(self, messages: list[dict], seed: int) -> str:
        # Whatever comes back is untrusted: the client raises OpenAIError for HTTP errors and timeouts, but a 200 with
        # a body that is not JSON raises json.JSONDecodeError, a JSON body of another shape gives an object without
        # choices or messages (AttributeError, TypeError), a cut connection an httpx error. Each is one failed attempt.
        try:
            response = self.client.chat.completions.create(model=self.model, messages=messages, temperature=self.temperature,
                                                           max_tokens=self.max_tokens, seed=seed)
            choices = getattr(response, "choices", None)
            if not choices:
                raise ChatError("the response has no choices")
            content = choices[0].message.content
        except ChatError:
            raise
        except Exception as e:  # noqa: BLE001 - see above: no response may end a run
            raise ChatError(f"{type(e).__name__}: {str(e)[:300]}") from e
        if not isinstance(content, str) or not content.strip():
            raise ChatError("the response's message has no content")
        return content
