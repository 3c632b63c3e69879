"""QA pairs -> LLaMat's ChatML-like text -> token shards whose `.ds.loss` marks the answer tokens only.

The shards are the corpus format (`corpus.shards.format`: `.ds`, `.ds.index`, `.ds.metadata`,
provenance side-car) plus `NAME.ds.loss`, one uint8 per token: 1 on the answer and its closing
`<|im_end|>` and EOS, 0 on the system prompt and the question. `train/data.py` turns 0 into an
ignored label, so SFT puts loss on answers only, as LLaMat did.
"""

from __future__ import annotations

import os

import numpy as np
from tokenizers import Tokenizer

from corpus.chat import chatml
from corpus.shards.format import (INDEX_DTYPE, loss_path, shard_name, token_dtype, token_size_for, write_loss_mask, write_metadata,
                                  write_provenance)


def write_sft_shard(pairs: list, folder: str, tokenizer_file: str, eos_token: str, seed: int, tokenizer_name: str,
                    chunk: int = 4096) -> dict:
    """One shard of every pair in a seeded order, tokenised and written `chunk` pairs at a time; returns counts."""
    tok = Tokenizer.from_file(tokenizer_file)
    eos = tok.token_to_id(eos_token)
    if eos is None:
        raise ValueError(f"{eos_token!r} is not in the tokenizer's vocabulary")
    size = token_size_for(tok.get_vocab_size())
    order = np.random.default_rng(seed).permutation(len(pairs))
    rows = {k: [] for k in ("id", "record", "source", "licence", "shard", "token_start", "token_end")}
    by_source: dict[str, list[tuple[int, int]]] = {}
    total = answer_tokens = 0
    os.makedirs(folder, exist_ok=True)
    ds = os.path.join(folder, shard_name(0))
    with open(ds, "wb") as tokens_out, open(ds + ".index", "wb") as index_out, open(loss_path(ds), "wb") as loss_out:
        for begin in range(0, len(order), chunk):
            part = order[begin : begin + chunk]
            prompts, answers = zip(*(chatml(pairs[i].system, pairs[i].question, pairs[i].answer) for i in part))
            prompt_ids = tok.encode_batch_fast(list(prompts), add_special_tokens=True)
            answer_ids = tok.encode_batch_fast(list(answers), add_special_tokens=False)
            tokens, masks, ends = [], [], []
            for k, i in enumerate(part):
                p, a = prompt_ids[k].ids, answer_ids[k].ids + [eos]
                tokens += [p, a]
                masks += [np.zeros(len(p), dtype=np.uint8), np.ones(len(a), dtype=np.uint8)]
                for key, value in (("id", pairs[i].id), ("record", pairs[i].id), ("source", pairs[i].source), ("licence", None),
                                   ("shard", shard_name(0)), ("token_start", total), ("token_end", total + len(p) + len(a))):
                    rows[key].append(value)
                total += len(p) + len(a)
                answer_tokens += len(a)
                ends.append(total)
                by_source.setdefault(pairs[i].source, []).append((len(p), len(a)))
            np.concatenate([np.asarray(t, dtype=np.int64) for t in tokens]).astype(token_dtype(size)).tofile(tokens_out)
            np.asarray(ends, dtype=INDEX_DTYPE).tofile(index_out)
            write_loss_mask(loss_out, np.concatenate(masks))
    write_metadata(ds, tokenizer_name, size, total)
    write_provenance(ds, rows, {"component": os.path.basename(folder), "eos_id": eos, "eos_token": eos_token, "seed": seed,
                                "token_size": size, "tokenizer": tokenizer_name, "vocab_size": tok.get_vocab_size()})
    return {"pairs": len(pairs), "tokens": total, "answer_tokens": answer_tokens,
            "lengths": {source: _quantiles(np.asarray(v)) for source, v in sorted(by_source.items())}}


def _quantiles(lengths: np.ndarray) -> dict:
    """Prompt and answer token counts (with template and EOS) of one source: median, 90th percentile, max."""
    return {part: {"p50": int(np.percentile(lengths[:, k], 50)), "p90": int(np.percentile(lengths[:, k], 90)), "max": int(lengths[:, k].max())}
            for k, part in enumerate(("prompt_tokens", "answer_tokens"))}
