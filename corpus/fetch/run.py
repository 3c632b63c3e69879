"""The fetch loop: for each job, discover items, skip what the ledger says is here and whole, fetch the rest, and
account for every item requested (fetched + skipped + failed)."""

from __future__ import annotations

import errno
import json
import os
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from corpus.fetch.arxiv import ArxivService
from corpus.fetch.arxiv_bulk import ArxivBulkService
from corpus.fetch.cod import CodService
from corpus.fetch.crossref import CrossrefService
from corpus.fetch.elsevier import ElsevierService
from corpus.fetch.gnome import GnomeService
from corpus.buildlock import FolderLock
from corpus.fetch.http import FetchFailed, PoliteClient, QuotaExhausted, redact, sniff
from corpus.fetch.ledger import Ledger, sha256_of
from corpus.fetch.manifest import FetchManifest
from corpus.fetch.names import OutsideOutput, inside
from corpus.fetch.materials_project import MaterialsProjectService
from corpus.fetch.openalex import OpenAlexService
from corpus.fetch.optimade import OptimadeService
from corpus.fetch.pmc import PmcService
from corpus.fetch.pmc_s3 import PmcS3Service
from corpus.fetch.springer import SpringerService
from corpus.fetch.service import Item
from corpus.readers.bounded import TooDeep
from corpus.records import SIDECAR_SUFFIX

LOCK_NAME = ".fetch.lock"
DRY_RUN_DEADLINE_S = 8.0  # how long a dry run asks one job's service for its count before saying "unreachable"

SERVICES = {"arxiv": ArxivService, "arxiv_bulk": ArxivBulkService, "pmc": PmcService, "pmc_s3": PmcS3Service, "optimade": OptimadeService, "crossref": CrossrefService, "elsevier": ElsevierService,
            "springer": SpringerService, "materials_project": MaterialsProjectService,
            "cod": CodService, "gnome": GnomeService, "openalex": OpenAlexService}


def _secret(job, field: str) -> str | None:
    env = getattr(job, field, None)
    if not env:
        return None
    value = os.environ.get(env)
    if not value:
        raise FetchFailed("no_credentials", f"jobs[{job.name}].{field}: ${env} is not set")
    return value


def _headers(job) -> dict[str, str]:
    """Credentials as the service takes them, read from the environment now (never from the manifest)."""
    if job.service == "elsevier":
        headers = {"X-ELS-APIKey": _secret(job, "api_key_env"), "Accept": "text/xml"}
        token = _secret(job, "insttoken_env")
        return {**headers, **({"X-ELS-Insttoken": token} if token else {})}
    key = _secret(job, "api_key_env")
    if job.service in ("springer", "openalex", "arxiv_bulk"):
        return {}  # their keys go in the URL (the services add them), or boto3 reads them; _secret has checked that it is set
    if job.service == "materials_project":
        return {"X-API-KEY": key}
    return {"Authorization": f"Bearer {key}"} if key else {}


def _write_atomic(path: Path, data: bytes | Iterable[bytes], cap: int | None = None) -> int:
    """`data` (bytes, or chunks produced as a listing is read) into `path` through a temporary file; its size. Over
    `cap` bytes it fails as too_large, and nothing is left behind."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    size = 0
    try:
        with open(partial, "wb") as out:
            for chunk in [data] if isinstance(data, bytes) else data:
                size += len(chunk)
                if cap is not None and size > cap:
                    raise FetchFailed("too_large", f"{path.name}: over {cap} bytes")
                out.write(chunk)
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)
    return size


def job_origins(job) -> list[str]:
    """The URLs a job is configured with: its credentials go to these origins and no other."""
    return [u for u in (getattr(job, f, None) for f in ("endpoint", "files_endpoint", "esearch_endpoint")) if isinstance(u, str)]


def _fetch_one(service, job, client: PoliteClient, item: Item, root: Path) -> tuple[Path, int, str, int | None]:
    folder = root / job.into
    if item.url is None and item.content is None:
        raise FetchFailed(item.meta.get("error", "no_url").split(":")[0], item.meta.get("error", item.id))
    target = inside(root, folder / item.filename)
    if item.content is not None:
        if isinstance(item.content, bytes):
            problem = sniff(item.content[:1024], "json" if item.expect == "json" else "any") if item.content else None
            if problem:
                raise FetchFailed(problem, item.id)
        size = _write_atomic(target, item.content, job.limits.max_bytes)
        return target, size, sha256_of(target), None
    if hasattr(service, "download"):  # a service with its own transport (S3)
        got = service.download(item, target)
    else:
        got = client.download(item.url, target, item.expect, item.params)
    final = service.finalise(got.path) if hasattr(service, "finalise") else got.path
    return inside(root, final), got.bytes, got.sha256, got.http_status


def failure_reason(error: BaseException) -> tuple[str, str]:
    """(ledger reason, detail) for anything raised on an item's path: one bad answer is one failed item."""
    if isinstance(error, FetchFailed):
        return error.reason, error.detail or error.reason
    if isinstance(error, (TooDeep, RecursionError)):
        return "too_deep", str(error) or "nested too deep"
    if isinstance(error, OutsideOutput):
        return "outside_output", str(error)
    if isinstance(error, OSError) and error.errno == errno.ENAMETOOLONG:
        return "name_too_long", str(error)
    if isinstance(error, OSError):
        return "os_error", f"{type(error).__name__}: {error}"
    if isinstance(error, MemoryError):
        return "too_large", "out of memory reading it"
    return "unexpected_error", f"{type(error).__name__}: {error}"


def _service(job, client: PoliteClient, manifest: FetchManifest, root: Path):
    service = SERVICES[job.service](job, client, **({"contact": manifest.contact} if job.service in ("crossref", "openalex") else {}))
    if hasattr(service, "root"):  # a service that reads an earlier job's output (dois_from, ids_from)
        service.root = root
    return service


def fetch(manifest: FetchManifest, limit: int | None = None, only: list[str] | None = None, dry_run: bool = False, log=None) -> dict:
    """Run the manifest's jobs (or `only` those); returns per job: requested, fetched, skipped, failed (by reason),
    bytes, whether it stopped on a quota (`stopped`) or its listing failed (`listing_error`, with the counts of what
    was done), and for a dry run the count the service reports. One fetch per output folder at a time (its lock)."""
    log = log or sys.stderr
    root = Path(manifest.output_dir)
    jobs = [job for job in manifest.jobs if not only or job.name in only]
    if dry_run:
        return dry_run_plan(manifest, jobs, limit, log)
    summary = {}
    with FolderLock(str(root), LOCK_NAME, "corpus fetch"):
        ledger = Ledger(root)
        try:
            for job in jobs:
                try:
                    headers = _headers(job)
                except FetchFailed as e:
                    summary[job.name] = {"service": job.service, "error": str(e)}
                    print(f"[fetch] {job.name}: {e}", file=log)
                    continue
                client = PoliteClient(job.limits, headers, manifest.contact, job_origins(job))
                try:
                    summary[job.name] = _run_job(job, _service(job, client, manifest, root), client, ledger, root, limit or job.limit, log)
                except Exception as e:  # noqa: BLE001 - a job that cannot start (its folder a link out of output_dir) is its error
                    summary[job.name] = {"service": job.service, "error": "{}: {}".format(*failure_reason(e))}
                    print(f"[fetch] {job.name}: {summary[job.name]['error']}", file=log)
                finally:
                    client.close()
        finally:
            ledger.close()
        _write_atomic(root / "fetch_summary.json", (json.dumps(summary, indent=2, sort_keys=True) + "\n").encode())
        _write_atomic(root / "fetch_report.md", report(root).encode())
    return summary


def dry_run_plan(manifest: FetchManifest, jobs: list, limit: int | None, log) -> dict:
    """What each job would do, printed before any request (endpoint, credentials it needs, where it writes); then the
    count each service reports, asked with a deadline of DRY_RUN_DEADLINE_S per job ("unreachable: REASON" when it
    cannot be had). Writes nothing."""
    root = Path(manifest.output_dir)
    summary = {}
    print(f"[fetch] dry run: {len(jobs)} job(s) into {root}; nothing is written", file=log)
    for job in jobs:
        needs = [f"${getattr(job, f)}" for f in ("api_key_env", "insttoken_env") if getattr(job, f, None)]
        missing = [n for n in needs if not os.environ.get(n[1:])]
        summary[job.name] = {"service": job.service, "endpoint": getattr(job, "endpoint", None), "into": str(root / job.into),
                             "credentials": needs, **({"needs": "; ".join(f"{n} is not set" for n in missing)} if missing else {})}
        unset = f" ({'; '.join(f'{n} is not set' for n in missing)})" if missing else ""
        print(f"[fetch] {job.name}: {job.service} at {getattr(job, 'endpoint', None) or 'its default endpoint'} -> {root / job.into}; "
              f"credentials: {', '.join(needs) or 'none'}{unset}", file=log)
    asked = [_ask_count(manifest, job, root) for job in jobs]  # all at once: the whole dry run takes one deadline
    for job, (worker, answer, service, client) in zip(jobs, asked):
        cap = limit or job.limit
        worker.join(max(0.0, answer["until"] - time.monotonic()))
        if worker.is_alive():
            count, problem = None, f"too_slow: no answer within {DRY_RUN_DEADLINE_S:g} s"
        else:
            client.close()
            count, problem = answer.get("count"), answer.get("problem")
        notes = list(getattr(service, "notes", []))
        entry = summary[job.name]
        entry.update({"available": count, "would_fetch": min(count, cap) if count is not None and cap else count, "notes": notes})
        if problem:
            entry["unreachable"] = problem
        what = f"unreachable: {problem}" if problem else f"{count if count is not None else 'an unknown number of'} items available"
        at_most = f", at most {cap} fetched" if cap and not problem else ""
        to_run = f" (to run it: {entry['needs']})" if "needs" in entry else ""
        print(f"[fetch] {job.name}: {what}{at_most}{to_run}", file=log)
        for note in notes:
            print(f"[fetch] {job.name}: {note}", file=log)
    return summary


def _ask_count(manifest: FetchManifest, job, root: Path):
    """Start asking the job's service for its count, within DRY_RUN_DEADLINE_S: the client's requests are held to
    that deadline, and the count runs in a daemon thread that is left behind if it outlasts it (a name lookup that
    hangs is bounded by nothing else). (thread, answer, service, client); answer["until"] is when to stop waiting."""
    try:
        headers = _headers(job)
    except FetchFailed:
        headers = {}  # a dry run explains a job without its credentials
    client = PoliteClient(job.limits, headers, manifest.contact, job_origins(job))
    client.set_deadline(DRY_RUN_DEADLINE_S)
    service = _service(job, client, manifest, root)
    answer: dict = {"until": time.monotonic() + DRY_RUN_DEADLINE_S + 1}

    def ask() -> None:
        try:
            answer["count"] = service.count()
        except Exception as e:  # noqa: BLE001 - any failure to count is said, never raised
            answer["problem"] = "{}: {}".format(*failure_reason(e))

    worker = threading.Thread(target=ask, daemon=True, name=f"count-{job.name}")
    worker.start()
    return worker, answer, service, client


def report(root: Path) -> str:
    """What the output folder holds now, from the ledger's last row per item: per job the items here, failed and
    bytes; items per journal (where the service names it); items by licence (what a commercial-use-only corpus can
    keep); failures by reason."""
    rows = list(Ledger.read_last(root).values())
    here = [r for r in rows if r["status"] in ("fetched", "skipped")]
    jobs = sorted({r["job"] for r in rows})
    lines = ["# corpus fetch: what this folder holds", "", "From `fetch_ledger.jsonl` (the last attempt of every item).", "",
             "| job | service | items here | failed | MB |", "|---|---|---:|---:|---:|"]
    for job in jobs:
        mine = [r for r in rows if r["job"] == job]
        ok = [r for r in mine if r["status"] != "failed"]
        lines.append(f"| {job} | {mine[0]['service']} | {len(ok)} | {len(mine) - len(ok)} | {sum(r['bytes'] or 0 for r in ok) / 1e6:.1f} |")
    journals = Counter((r["job"], r.get("journal")) for r in here if r.get("journal"))
    if journals:  # the first 50; every row is in the ledger
        lines += ["", "| job | journal | items here |", "|---|---|---:|"]
        lines += [f"| {job} | {journal} | {n} |" for (job, journal), n in sorted(journals.items(), key=lambda kv: (-kv[1], kv[0]))[:50]]
    lines += ["", "| licence | items here |", "|---|---:|"]
    for licence, n in Counter(r["licence"] or "(none recorded)" for r in here).most_common():
        lines.append(f"| {licence} | {n} |")
    failed = Counter((r["job"], r["reason"]) for r in rows if r["status"] == "failed")
    if failed:
        lines += ["", "| job | failure | items |", "|---|---|---:|"]
        lines += [f"| {job} | {reason} | {n} |" for (job, reason), n in sorted(failed.items())]
    return "\n".join(lines) + "\n"


def _clear_partials(root: Path, folder: Path) -> None:
    """What a killed fetch left mid-write (never complete, never an input), under the job's folder only: the walk
    does not follow symbolic links, and every file is checked to be inside the output folder before it goes."""
    for parent, _, names in os.walk(folder):
        for name in names:
            if name.endswith(".partial"):
                path = Path(parent) / name
                if not path.is_symlink():
                    inside(root, path).unlink()


def _run_job(job, service, client, ledger: Ledger, root: Path, cap: int | None, log) -> dict:
    folder = inside(root, root / job.into)
    _clear_partials(root, folder)
    counts, reasons, size = Counter(), Counter(), 0
    stopped = listing_error = None
    last_report = time.monotonic()
    items = iter(service.discover())
    while not (cap and counts["requested"] >= cap):
        try:
            item = next(items)
        except StopIteration:
            break
        except QuotaExhausted as e:
            stopped = str(e)
            break
        except Exception as e:  # noqa: BLE001 - the listing failed: the job stops, what it did is kept and counted
            listing_error = redact("{}: {}".format(*failure_reason(e)))[:500]
            break
        counts["requested"] += 1
        journal = item.meta.get("journal") or item.meta.get("source")  # OpenAlex calls it the source
        base = {"job": job.name, "service": job.service, "item": item.id, "doi": item.doi, "journal": journal,
                "url": redact(item.url) if item.url else None, "licence": item.licence}
        had = ledger.have(job.name, item.id)
        if had:
            ledger.write(**base, path=had["path"], status="skipped", reason="already_fetched", bytes=had["bytes"], sha256=had["sha256"],
                         http_status=None)
            counts["skipped"] += 1
            continue
        try:
            path, nbytes, digest, status = _fetch_one(service, job, client, item, root)
            side = {"id": item.id, "service": job.service, "doi": item.doi, "licence": item.licence, "url": item.url, **item.meta}
            _write_atomic(inside(root, path.with_name(path.name + SIDECAR_SUFFIX)),
                          (json.dumps(side, ensure_ascii=False, sort_keys=True) + "\n").encode())
        except QuotaExhausted as e:
            ledger.write(**base, status="failed", reason="quota", http_status=e.http_status, detail=redact(str(e))[:300])
            counts["failed"] += 1
            reasons["quota"] += 1
            stopped = str(e)
            break
        except Exception as e:  # noqa: BLE001 - one bad answer is one failed item, with its reason in the ledger
            reason, detail = failure_reason(e)
            ledger.write(**base, status="failed", reason=reason, http_status=getattr(e, "http_status", None), detail=redact(detail)[:300])
            counts["failed"] += 1
            reasons[reason] += 1
            continue
        ledger.write(**base, path=str(path.relative_to(root)), status="fetched", http_status=status, bytes=nbytes, sha256=digest)
        counts["fetched"] += 1
        size += nbytes
        if time.monotonic() - last_report > 10:
            print(f"[fetch] {job.name}: {counts['requested']} requested, {counts['fetched']} fetched, {counts['failed']} failed", file=log)
            last_report = time.monotonic()
    result = {"service": job.service, "requested": counts["requested"], "fetched": counts["fetched"], "skipped": counts["skipped"],
              "failed": counts["failed"], "failed_by_reason": dict(sorted(reasons.items())), "bytes": size, "requests": client.requests}
    print(f"[fetch] {job.name}: {result['requested']} requested = {result['fetched']} fetched + {result['skipped']} skipped + "
          f"{result['failed']} failed {result['failed_by_reason'] or ''}", file=log)
    if stopped:
        result["stopped"] = redact(stopped)
        print(f"[fetch] {job.name}: stopped by the service's quota: {redact(stopped)}; rerun the same command later to resume "
              "(the ledger skips what is here)", file=log)
    if listing_error:
        result["listing_error"] = listing_error
        result["listing_stopped_after"] = counts["requested"]
        print(f"[fetch] {job.name}: listing failed after {counts['requested']} items: {listing_error}", file=log)
    return result
