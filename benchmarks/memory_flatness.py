"""Memory against corpus size: synthetic builds of N short documents through the local executor.

Documents are 4-8 random sentences drawn (seeded) from the bundled general-English sample, so they
pass the language and prose filters and are mostly distinct; they are spread over 16 JSON Lines
files and built with `corpus build` (all stages, MinHash dedup on, LLaMA-2 tokenizer, 2 workers,
and as many tasks as keep each task at `--docs-per-task` documents, the way a real manifest is
sharded; `--fixed-tasks K` instead keeps K tasks whatever N is, which shows what one task's memory
does as it is given more documents). A sampler sums the resident memory of the build's whole process tree every 0.2 s; the
samples are assigned to stages with the build's own stage timings (logs/timings.json: the stages, then the report),
keeping only samples at least one sampling interval (0.2 s) inside a stage. Claim under test (issue 10):
every stage's peak stays flat as N grows except the one-task clustering phase (`dedup`), whose
growth is measured.

    .venv/bin/python benchmarks/memory_flatness.py [--sizes 100000 300000 1000000] [--docs-per-task 12500]
    .venv/bin/python benchmarks/memory_flatness.py --fixed-tasks 8 --sizes 100000 300000
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def sentences() -> list[str]:
    import re

    out = []
    with gzip.open(ROOT / "samples" / "general" / "general_english_slice.jsonl.gz", "rt", encoding="utf-8") as f:
        for line in f:
            for s in re.split(r"(?<=[.!?])\s+", json.loads(line)["text"]):
                if 40 <= len(s) <= 300 and "\n" not in s:
                    out.append(s)
    return out


def write_corpus(folder: Path, n: int, seed: int = 0, files: int = 16) -> None:
    pool = sentences()
    rng = random.Random(seed)
    folder.mkdir(parents=True, exist_ok=True)
    handles = [gzip.open(folder / f"part{k:02d}.jsonl.gz", "wt", encoding="utf-8", compresslevel=1) for k in range(files)]
    for i in range(n):
        text = " ".join(rng.choice(pool) for _ in range(rng.randint(4, 8)))
        handles[i % files].write(json.dumps({"id": f"syn{i}", "text": text}) + "\n")
    for h in handles:
        h.close()


def tree_rss(pid: int) -> int:
    """Resident bytes of a process and all its descendants (from /proc)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
            rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        total += rss.get(p, 0)
        stack += children.get(p, [])
    return total


def build(n: int, tmp: Path, tasks: int) -> dict:
    data = tmp / f"data{n}"
    write_corpus(data, n, files=max(16, tasks))
    manifest = {
        "name": f"flat{n}", "output_dir": str(tmp / f"out{n}"), "seed": 1,
        "executor": {"type": "local", "tasks": tasks, "workers": 2},
        "tokenizer": {"path": str(ROOT / "samples" / "tokenizers" / "llama2"), "eos_token": "</s>"},
        "sources": [{"name": "synthetic", "reader": "jsonl", "paths": [str(data / "*.jsonl.gz")], "options": {"id_key": "id"}}],
        "stages": {"filters": {"min_chars": 100}},
        "components": [{"name": "general", "sources": ["synthetic"]}],
    }
    path = tmp / f"manifest{n}.yaml"
    path.write_text(yaml.safe_dump(manifest))
    samples = []
    start = time.monotonic()
    proc = subprocess.Popen([str(ROOT / ".venv" / "bin" / "corpus"), "build", str(path)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    stop = threading.Event()

    def sample():
        while not stop.is_set():
            samples.append((time.monotonic() - start, tree_rss(proc.pid)))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, err = proc.communicate()
    stop.set()
    sampler.join()
    wall = time.monotonic() - start
    if proc.returncode != 0:
        raise SystemExit(err.decode()[-3000:])
    timings = json.loads((tmp / f"out{n}" / "logs" / "timings.json").read_text())
    # stages ran one after the other; the setup before the first stage goes with it
    # a stage's peak: the samples taken inside it, 0.2 s (one sampling interval) away from both of its ends, so that
    # the processes of the stage before (workers exiting) or after do not count for it
    peaks, t = {}, wall - sum(timings.values())
    for stage, seconds in timings.items():
        inside = [r for s, r in samples if t + 0.2 <= s <= t + seconds - 0.2]
        peaks[stage] = round(max(inside, default=0) / 2**30, 3)
        t += seconds
    summary = json.loads((tmp / f"out{n}" / "summary.json").read_text())
    return {"documents": n, "tasks": tasks, "wall_s": round(wall, 1), "stage_s": timings, "peak_gib_by_stage": peaks,
            "peak_gib": round(max(r for _, r in samples) / 2**30, 3), "kept": summary.get("kept"),
            "dropped": summary.get("dropped")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 300_000, 1_000_000])
    parser.add_argument("--docs-per-task", type=int, default=12_500)
    parser.add_argument("--fixed-tasks", type=int, default=0, help="K tasks for every size instead of --docs-per-task")
    parser.add_argument("--output", default="", help="result file name under benchmarks/results (default by mode)")
    args = parser.parse_args()
    rows = []
    for n in args.sizes:
        tasks = args.fixed_tasks or max(1, -(-n // args.docs_per_task))
        with tempfile.TemporaryDirectory() as tmp:
            rows.append(build(n, Path(tmp), tasks))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    out = {"machine": f"{os.cpu_count()} cores", "docs_per_task": None if args.fixed_tasks else args.docs_per_task,
           "fixed_tasks": args.fixed_tasks or None, "runs": rows}
    os.makedirs(ROOT / "benchmarks" / "results", exist_ok=True)
    name = args.output or (f"memory_flatness_fixed{args.fixed_tasks}.json" if args.fixed_tasks else "memory_flatness.json")
    (ROOT / "benchmarks" / "results" / name).write_text(json.dumps(out, indent=2) + "\n")
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
