"""`qa-synth build MANIFEST [--output DIR]`: the instruction pairs for LLaMat-style fine-tuning, from a manifest.

Sources (`sources:`, in priority order: when two pairs are duplicates the earlier source's wins):

  kind: crystals         LLaMat's crystal tasks (corpus.tasks.crystal) from CIF files / CDVAE CSVs
                         paths, per_structure (questions per structure), symprec, tasks (default all)
  kind: matsci_nlp       MatSci-NLP tasks in LLaMat's MatNLP format (corpus.tasks.matsci_nlp), train split only
                         root (the MatSci-NLP folder), tasks (default all)
  kind: sie              LLaMat's MatSIE JSONL files as they are: paths (the *_train files)
  kind: nerre            Dunn et al.'s extraction sets: sets {general: PATH, mof: PATH}
  kind: matsci_instruct  MatSci-Instruct {instruction, input, output}: path
  kind: recipes          text-mined synthesis recipes (qa_synth.recipes): releases [{path, method}]
  kind: teacher          paper-grounded pairs from a teacher model (qa_synth.teacher) over passages of
                         corpus builds: passages [OUT/work/kept/papers, ...], max_passages,
                         pairs_per_passage, concurrency, attempts, cache (SQLite file), and either
                         base_url (or base_url_env: the variable holding it), model, api_key_env,
                         timeout_s, max_retries -- or model_path (a local transformers model).
                         Passages that get no usable response in `attempts` tries are listed in the
                         summary (missing_passages, with the last error) and the build exits 1 unless
                         allow_missing: true; a rerun asks only for those (the cache has the rest).
                         Skipped, and said so in the summary, when base_url_env names an unset variable.

Every source takes `name`, `target` (the most pairs it contributes; a seeded sample stratified by
task when it has more) and `near_dedup` (MinHash LSH over questions within a task; default on, off
for the templated kinds crystals and recipes, whose questions differ by design in one entity: exact
duplicates are removed everywhere). `exclude:` lists evaluation test sets that no pair may overlap:
{name, kind: structures, paths} (benchmark test crystals, StructureMatcher), {kind: mascqa, paths},
{kind: matsci_nlp, root} (its test split), {kind: sie, paths} (the *_test files). Also: name,
output_dir, seed, tokenizer {path, eos_token}, validation_fraction, near_duplicate_threshold,
ngram (evaluation overlap n-gram length), seq_len, global_batch_size. Paths are relative to the manifest.

Outputs (OUT):
  pairs.jsonl            training pairs {id, source, task, system, question, answer}
  validation.jsonl       the seeded held-out pairs
  removed.jsonl          every converted pair that is not in either file, with its reason
  shards/sft/            token shards in LLaMat's ChatML-like template, `.ds.loss` = answer tokens
  train_data.yaml        the stage file train/run.sh reads (train/configs/sft.yaml)
  summary.json, summary.md   pairs per source and task, lengths, removals by reason, timings
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import random
import sys
import time
import warnings
from collections import Counter

import yaml

from corpus.lineage import content_fingerprint
from corpus.shards.checksums import write_checksums
from corpus.shards.format import TrainData, TrainStage, write_train_data

# Questions written from a template and a record ("Suggest precursors for Ba2HoTaO6") differ from their
# neighbours by design in one entity, which word MinHash would call near-duplicates; these sources get
# exact dedup only (and crystals their structure-level decontamination) unless the manifest says near_dedup.
TEMPLATED = ("crystals", "recipes")


def _resolve(base: str, path: str) -> str:
    return path if os.path.isabs(path) else os.path.normpath(os.path.join(base, path))


def _files(base: str, patterns, field: str) -> list[str]:
    if isinstance(patterns, str):
        patterns = [patterns]
    if not patterns:
        raise ValueError(f"{field}: no paths given")
    files = sorted({f for p in patterns for f in glob.glob(_resolve(base, p))})
    if not files:
        raise ValueError(f"{field}: no file matches {patterns}")
    return files


def _folder(base: str, path, field: str) -> str:
    if not path or not os.path.isdir(_resolve(base, path)):
        raise ValueError(f"{field}: {path!r} is not a folder")
    return _resolve(base, path)


def load_manifest(path: str) -> dict:
    """The manifest with every path resolved and checked, or ValueError naming the field: a bad manifest fails before any work."""
    base = os.path.dirname(os.path.abspath(path))
    from corpus.config import expand_env

    with open(path) as f:
        m = yaml.safe_load(f)
    if not isinstance(m, dict):
        raise ValueError(f"{path}: not a YAML mapping")
    m = expand_env(m, os.path.basename(path))  # ${VAR} and ${VAR:-default}, as in corpus manifests
    from pydantic import ValidationError

    from corpus.config import format_validation_error
    from qa_synth.config import QAManifest

    try:  # every key and type first (strict: a misspelt key is an error naming it), then the paths on disk below
        QAManifest.model_validate(m)
    except ValidationError as e:
        raise ValueError(format_validation_error(e, path, "qa-synth manifest")) from None
    for i, s in enumerate(m["sources"]):  # names, kinds, targets and tasks are the schema's; what needs the disk is here
        field = f"sources[{i}]"
        kind = s["kind"]
        if kind in ("crystals", "sie"):
            s["paths"] = _files(base, s.get("paths"), f"{field}.paths")
        elif kind == "matsci_nlp":
            s["root"] = _folder(base, s.get("root"), f"{field}.root")
        elif kind == "nerre":
            if not isinstance(s.get("sets"), dict) or not s["sets"]:
                raise ValueError(f"{field}.sets: expected {{general: PATH, mof: PATH}}")
            s["sets"] = {k: _files(base, v, f"{field}.sets.{k}")[0] for k, v in s["sets"].items()}
        elif kind == "matsci_instruct":
            s["path"] = _files(base, s.get("path"), f"{field}.path")[0]
        elif kind == "recipes":
            releases = s.get("releases") or []
            if not releases:
                raise ValueError(f"{field}.releases: expected [{{path, method}}]")
            s["releases"] = [{"path": _files(base, r.get("path"), f"{field}.releases[{j}].path")[0], "method": r.get("method", "solid-state")}
                             for j, r in enumerate(releases)]
        elif kind == "teacher":
            if not (s.get("model_path") or s.get("base_url") or s.get("base_url_env")):
                raise ValueError(f"{field}: a teacher needs base_url, base_url_env or model_path")
            if s.get("model_path"):
                s["model_path"] = _folder(base, s["model_path"], f"{field}.model_path")
            elif not s.get("model"):
                raise ValueError(f"{field}.model: the endpoint's model name is required")
            s["passages"] = [_resolve(base, p) for p in s.get("passages") or []]
            if not s["passages"]:
                raise ValueError(f"{field}.passages: name the kept-document folders of a corpus build")
            enabled = s.get("model_path") or s.get("base_url") or os.environ.get(s.get("base_url_env") or "")
            for j, folder in enumerate(s["passages"] if enabled else []):
                if not os.path.isdir(folder):
                    raise ValueError(f"{field}.passages[{j}]: {folder} is not a folder (build the corpus first)")
            s["cache"] = _resolve(base, s.get("cache", os.path.join(m["output_dir"], "teacher_cache.sqlite")))
    for i, e in enumerate(m.get("exclude") or []):
        field = f"exclude[{i}]"
        e.setdefault("name", e["kind"])
        if e["kind"] == "matsci_nlp":
            e["root"] = _folder(base, e.get("root"), f"{field}.root")
        else:
            e["paths"] = _files(base, e.get("paths"), f"{field}.paths")
    m.setdefault("exclude", [])
    tok = m["tokenizer"]
    tok_path = _resolve(base, tok["path"])
    if not os.path.exists(tok_path):
        raise ValueError(f"tokenizer.path: {tok['path']!r} does not exist")
    m["tokenizer"] = {"path": tok_path, "eos_token": tok.get("eos_token", "</s>")}
    m["output_dir"] = _resolve(base, m["output_dir"])
    return m


def _log(message: str) -> None:
    print(f"[qa-synth {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def crystal_pairs(src: dict, index, settings, rng: random.Random, skipped: Counter) -> list:
    from corpus.crystals.matching import spacegroup_number
    from corpus.tasks.crystal import crystal_tasks, read_structures

    out = []
    for record, item, properties in read_structures(src["paths"], settings):
        if isinstance(item, str):
            skipped[item] += 1
            continue
        if index is not None and index.match(item, spacegroup_number(item, settings.symprec)) is not None:
            skipped["benchmark_structure"] += 1
            continue
        out += crystal_tasks(item, f"{src['name']}:{record}", src["name"], rng, src.get("per_structure", 4), properties,
                             src.get("tasks"))
    return out


def _per_file(src: dict, files: list, failed: list) -> list:
    """The pairs of each (path, convert) of a source; a file that cannot be read or converted (not UTF-8, bad JSON,
    missing fields, gone) is recorded in `failed` with its error and the build goes on without it."""
    out = []
    for path, convert in files:
        try:
            out += list(convert())
        except (OSError, ValueError, KeyError, TypeError, AttributeError, IndexError) as e:  # JSONDecodeError, UnicodeDecodeError: ValueError
            failed.append({"source": src["name"], "path": path, "error": f"{type(e).__name__}: {e}"[:300]})
            _log(f"warning: {src['name']}: {path} not converted ({type(e).__name__}: {e}); the build goes on without it")
    return out


def source_pairs(src: dict, m: dict, index, settings, rng: random.Random, skipped: Counter, notes: dict, failed: list,
                 missing_passages: list) -> list:
    """Every pair one source converts to, before any removal (files that fail are listed in `failed`)."""
    from corpus.tasks import matsci_nlp
    from qa_synth import extraction, recipes, teacher

    kind = src["kind"]
    if kind == "crystals":
        return crystal_pairs(src, index, settings, rng, skipped)
    if kind == "matsci_nlp":
        return list(matsci_nlp.pairs(src["root"], "train", src.get("tasks")))
    if kind == "sie":
        return _per_file(src, [(p, lambda p=p: extraction.sie([p])) for p in src["paths"]], failed)
    if kind == "nerre":
        return _per_file(src, [(path, lambda k=k, path=path: extraction.nerre(path, k)) for k, path in src["sets"].items()], failed)
    if kind == "matsci_instruct":
        return _per_file(src, [(src["path"], lambda: extraction.matsci_instruct(src["path"]))], failed)
    if kind == "recipes":
        return _per_file(src, [(r["path"], lambda r=r: recipes.pairs(r["path"], r["method"], rng, src.get("tasks")))
                               for r in src["releases"]], failed)
    # teacher
    config = dict(src)
    if not src.get("model_path") and not src.get("base_url"):
        config["base_url"] = os.environ.get(src["base_url_env"])
        if not config["base_url"]:
            notes[src["name"]] = f"skipped: {src['base_url_env']} is not set"
            return []
    passages = []
    for pid, text in teacher.passages_from_build(src["passages"]):
        passages.append((pid, text))
        if len(passages) >= src.get("max_passages", 1000):
            break
    cache = teacher.ResponseCache(src["cache"])
    try:
        pairs, counts, missing = teacher.generate(passages, teacher.teacher_backend(config), cache, src.get("pairs_per_passage", 3),
                                                  src.get("concurrency", 4), src.get("attempts", 3), m["seed"], src["name"])
    finally:
        cache.close()
    notes[src["name"]] = {"passages": len(passages), "not_kept": dict(counts)}
    missing_passages.extend({"source": src["name"], **row} for row in missing)
    return pairs


def evaluation_texts(m: dict):
    """(benchmark, text) of every non-structure test item the manifest excludes."""
    from corpus.tasks import matsci_nlp

    for e in m["exclude"]:
        if e["kind"] == "mascqa":
            for path in e["paths"]:
                with open(path, encoding="utf-8") as f:
                    for line in f:
                        if line.strip():
                            yield e["name"], json.loads(line)["question"]
        elif e["kind"] == "sie":
            # the item's passage (its longest paragraph): LLaMat words the extraction instruction and schema
            # around it in a few dozen paraphrases, which training items share without sharing the test
            for path in e["paths"]:
                with open(path, encoding="utf-8") as f:
                    for line in f:
                        if line.strip():
                            yield e["name"], max(json.loads(line)["question"].split("\n\n"), key=len)
        elif e["kind"] == "matsci_nlp":
            for p in matsci_nlp.pairs(e["root"], "test"):
                yield e["name"], p.context or p.question


def build(manifest_path: str, output: str | None = None) -> dict:
    from corpus.crystals.matching import StructureIndex
    from corpus.crystals.structures import CrystalSettings
    from qa_synth import mixing
    from qa_synth.report import write_summary
    from qa_synth.shards import write_sft_shard

    # pymatgen and spglib warn about every rounded coordinate and their own deprecations; nothing else is silenced
    warnings.filterwarnings("ignore", module=r"(pymatgen|spglib|moyopy)(\.|$)")
    started = time.time()
    m = load_manifest(manifest_path)
    out = os.path.abspath(output) if output else m["output_dir"]
    timings = {}
    settings = CrystalSettings(symprec=m.get("symprec", 0.1))
    structure_sets = [e for e in m["exclude"] if e["kind"] == "structures"]
    t = time.time()
    index = StructureIndex.load(structure_sets, settings) if structure_sets else None
    evaluation = mixing.EvaluationIndex(evaluation_texts(m), n=m.get("ngram", 13))
    timings["evaluation_index"] = time.time() - t
    _log(f"evaluation index: {sum(evaluation.per_benchmark.values())} test texts, "
         f"{sum(index.counts.values()) if index else 0} test structures")
    rng = random.Random(m["seed"])
    pairs, skipped, notes, converted, failed, missing_passages = [], Counter(), {}, Counter(), [], []
    for src in m["sources"]:
        t = time.time()
        new = source_pairs(src, m, index, settings, rng, skipped, notes, failed, missing_passages)
        for p in new:
            p.source = src["name"]
        pairs += new
        converted[src["name"]] = len(new)
        timings[f"source:{src['name']}"] = time.time() - t
        _log(f"{src['name']} ({src['kind']}): {len(new)} pairs in {time.time() - t:.1f} s")

    t = time.time()
    removed = mixing.exact_duplicates(pairs)
    for i, p in enumerate(pairs):
        if i not in removed:
            hit = evaluation.hit(p)
            if hit:
                removed[i] = (f"evaluation_overlap:{hit}", None)
    near = {s["name"] for s in m["sources"] if s.get("near_dedup", s["kind"] not in TEMPLATED)}
    alive = [i for i in range(len(pairs)) if i not in removed]
    removed.update(mixing.near_duplicates(pairs, [i for i in alive if pairs[i].source in near], m.get("near_duplicate_threshold", 0.8)))
    alive = [i for i in alive if i not in removed]
    timings["dedup_and_decontamination"] = time.time() - t
    kept, over = mixing.apply_targets(pairs, alive, {s["name"]: s.get("target") for s in m["sources"]}, rng)
    for i in over:
        removed[i] = ("over_target", None)
    train_rows, validation_rows = mixing.split_rows(kept, m.get("validation_fraction", 0.01), rng)
    _log(f"{len(pairs)} converted -> {len(train_rows)} train + {len(validation_rows)} validation; {len(removed)} removed")

    os.makedirs(out, exist_ok=True)
    for name, rows in (("pairs.jsonl", train_rows), ("validation.jsonl", validation_rows)):
        with open(os.path.join(out, name), "w", encoding="utf-8") as f:
            for i in rows:
                f.write(json.dumps(pairs[i].record(), ensure_ascii=False) + "\n")
    with open(os.path.join(out, "removed.jsonl"), "w", encoding="utf-8") as f:
        for i, (reason, survivor) in sorted(removed.items()):
            row = {"id": pairs[i].id, "source": pairs[i].source, "task": pairs[i].task, "reason": reason}
            if survivor is not None:
                row["duplicate_of"] = pairs[survivor].id
            f.write(json.dumps(row, ensure_ascii=False) + "\n")

    t = time.time()
    tok = m["tokenizer"]
    tok_file = tok["path"] if tok["path"].endswith(".json") else os.path.join(tok["path"], "tokenizer.json")
    train_pairs = [pairs[i] for i in train_rows]
    counts = write_sft_shard(train_pairs, os.path.join(out, "shards", "sft"), tok_file, tok["eos_token"], m["seed"],
                             tok["path"] if not tok["path"].endswith(".json") else os.path.dirname(tok["path"]))
    write_checksums(os.path.join(out, "shards"), ["sft"])  # `corpus check OUT/shards` verifies them like a corpus build's
    timings["shards"] = time.time() - t
    lengths = counts.pop("lengths")
    seq_len, global_batch = m.get("seq_len", 2048), m.get("global_batch_size", 64)
    steps = max(1, counts["tokens"] // (seq_len * global_batch))
    write_train_data(os.path.join(out, "train_data.yaml"),
                     TrainData(shards=os.path.join(out, "shards"), seed=m["seed"], seq_len=seq_len, global_batch_size=global_batch,
                               total_steps=steps, stages=[TrainStage(name="sft", start_step=1, weights={"sft": 1.0})]), "qa-synth")
    reasons = Counter(r for r, _ in removed.values())
    strict = {s["name"] for s in m["sources"] if s["kind"] == "teacher" and not s.get("allow_missing", False)}
    per_source_task = Counter((pairs[i].source, pairs[i].task) for i in train_rows)
    summary = {
        "name": m["name"],
        "pairs": len(train_rows),
        "validation_pairs": len(validation_rows),
        "distinct_pairs": len(kept),
        "converted": dict(converted),
        "per_source": dict(Counter(pairs[i].source for i in train_rows)),
        "per_task": dict(Counter(pairs[i].task for i in train_rows)),
        "per_source_task": [{"source": s, "task": k, "pairs": n} for (s, k), n in sorted(per_source_task.items())],
        "removed": dict(sorted(reasons.items())),
        "removed_per_source": {s: dict(sorted(Counter(r for i, (r, _) in removed.items() if pairs[i].source == s).items()))
                               for s in converted},
        "skipped_structures": dict(skipped),
        "failed_files": failed,
        "missing_passages": missing_passages,
        "missing_allowed": not any(row["source"] in strict for row in missing_passages),
        "evaluation_sets": dict(evaluation.per_benchmark) | (dict(index.counts) if index else {}),
        "notes": notes,
        **counts,
        "lengths": lengths,
        "total_steps": steps,
        "timings_s": {k: round(v, 1) for k, v in timings.items()} | {"total": round(time.time() - started, 1)},
    }
    if sum(converted.values()) != len(kept) + len(removed):  # not an assert: python -O must not skip the accounting
        raise RuntimeError(f"accounting: {sum(converted.values())} converted pairs but {len(kept)} kept + {len(removed)} removed")
    duplicated = len(pairs) - len({p.id for p in pairs})
    if duplicated:
        raise ValueError(f"{duplicated} pair ids are not unique: two sources or tasks name their pairs alike")
    summary["lineage"] = {"content_fingerprint": content_fingerprint(os.path.join(out, "shards"))}  # corpus/lineage.py
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2, ensure_ascii=False)
    write_summary(summary, os.path.join(out, "summary.md"))
    _log(f"done in {time.time() - started:.0f} s: {out}")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="qa-synth", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build instruction pairs and SFT shards from a manifest")
    b.add_argument("manifest")
    b.add_argument("--output", "-o", help="output folder (overrides the manifest's output_dir)")
    args = parser.parse_args(argv)
    try:
        summary = build(args.manifest, args.output)
    except (ValueError, FileNotFoundError, yaml.YAMLError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps({k: summary[k] for k in ("name", "pairs", "validation_pairs", "per_source", "removed", "timings_s")}, indent=2))
    if summary["missing_passages"]:
        n = len(summary["missing_passages"])
        print(f"{'warning' if summary['missing_allowed'] else 'error'}: {n} teacher passage(s) got no usable response "
              f"(listed in summary.json and summary.md under missing_passages); rerun to ask for them again "
              f"(the cache keeps what was answered)" + ("" if summary["missing_allowed"] else ", or set allow_missing: true on the source"),
              file=sys.stderr)
        return 0 if summary["missing_allowed"] else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
