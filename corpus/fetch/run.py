"""The fetch loop: for each job, discover items, skip what the ledger says is here and whole, fetch the rest, and
account for every item requested (fetched + skipped + failed)."""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

from corpus.fetch.arxiv import ArxivService
from corpus.fetch.arxiv_bulk import ArxivBulkService
from corpus.fetch.cod import CodService
from corpus.fetch.crossref import CrossrefService
from corpus.fetch.elsevier import ElsevierService
from corpus.fetch.gnome import GnomeService
from corpus.fetch.http import FetchFailed, PoliteClient, QuotaExhausted, sniff
from corpus.fetch.ledger import Ledger, sha256_of
from corpus.fetch.manifest import FetchManifest
from corpus.fetch.materials_project import MaterialsProjectService
from corpus.fetch.openalex import OpenAlexService
from corpus.fetch.optimade import OptimadeService
from corpus.fetch.pmc import PmcService
from corpus.fetch.pmc_s3 import PmcS3Service
from corpus.fetch.springer import SpringerService
from corpus.fetch.service import Item
from corpus.records import SIDECAR_SUFFIX

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


def _write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    partial.write_bytes(data)
    os.replace(partial, path)


def _fetch_one(service, job, client: PoliteClient, item: Item, folder: Path) -> tuple[Path, int, str, int | None]:
    target = folder / item.filename
    if item.content is not None:
        problem = sniff(item.content[:1024], "json" if item.expect == "json" else "any") if item.content else None
        if problem:
            raise FetchFailed(problem, item.id)
        _write_atomic(target, item.content)
        return target, len(item.content), sha256_of(target), None
    if item.url is None:
        raise FetchFailed(item.meta.get("error", "no_url").split(":")[0], item.meta.get("error", item.id))
    if hasattr(service, "download"):  # a service with its own transport (S3)
        got = service.download(item, target)
    else:
        got = client.download(item.url, target, item.expect, item.params)
    final = service.finalise(got.path) if hasattr(service, "finalise") else got.path
    return final, got.bytes, got.sha256, got.http_status


def fetch(manifest: FetchManifest, limit: int | None = None, only: list[str] | None = None, dry_run: bool = False, log=None) -> dict:
    """Run the manifest's jobs (or `only` those); returns per job: requested, fetched, skipped, failed (by reason),
    bytes, whether it stopped on a quota, and for a dry run the count the service reports."""
    log = log or sys.stderr
    root = Path(manifest.output_dir)
    summary = {}
    ledger = None if dry_run else Ledger(root)
    try:
        for job in manifest.jobs:
            if only and job.name not in only:
                continue
            cap = limit or job.limit
            try:
                headers, missing = _headers(job), None
            except FetchFailed as e:
                if not dry_run:
                    summary[job.name] = {"service": job.service, "error": str(e)}
                    print(f"[fetch] {job.name}: {e}", file=log)
                    continue
                headers, missing = {}, str(e)  # a dry run explains a job without its credentials
            client = PoliteClient(job.limits, headers, manifest.contact)
            service = SERVICES[job.service](job, client, **({"contact": manifest.contact} if job.service in ("crossref", "openalex") else {}))
            if hasattr(service, "root"):  # a service that reads an earlier job's output (dois_from, ids_from)
                service.root = root
            try:
                if dry_run:
                    count = service.count()
                    summary[job.name] = {"service": job.service, "endpoint": job.endpoint, "into": str(root / job.into),
                                         "available": count, "would_fetch": min(count, cap) if count is not None and cap else count,
                                         **({"needs": missing} if missing else {})}
                    print(f"[fetch] {job.name} ({job.service}, {job.endpoint}): {count if count is not None else 'an unknown number of'} "
                          f"items available{f', at most {cap} fetched' if cap else ''} -> {root / job.into}"
                          f"{f' (to run it: {missing})' if missing else ''}", file=log)
                    for note in getattr(service, "notes", []):
                        print(f"[fetch] {job.name}: {note}", file=log)
                    summary[job.name]["notes"] = list(getattr(service, "notes", []))
                    continue
                summary[job.name] = _run_job(job, service, client, ledger, root, cap, log)
            except FetchFailed as e:  # the listing itself failed: the job stops, what it fetched stays in the ledger
                summary.setdefault(job.name, {"service": job.service})["listing_error"] = str(e)
                print(f"[fetch] {job.name}: listing failed: {e}", file=log)
            finally:
                client.close()
    finally:
        if ledger:
            ledger.close()
    if not dry_run:
        (root / "fetch_summary.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        (root / "fetch_report.md").write_text(report(root))
    return summary


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


def _run_job(job, service, client, ledger: Ledger, root: Path, cap: int | None, log) -> dict:
    folder = root / job.into
    for stale in folder.glob("**/*.partial"):  # what a killed fetch left mid-write: never complete, never an input
        stale.unlink()
    counts, reasons, size = Counter(), Counter(), 0
    stopped, last_report = None, time.monotonic()
    for item in service.discover():
        if cap and counts["requested"] >= cap:
            break
        counts["requested"] += 1
        journal = item.meta.get("journal") or item.meta.get("source")  # OpenAlex calls it the source
        base = {"job": job.name, "service": job.service, "item": item.id, "doi": item.doi, "journal": journal, "url": item.url,
                "licence": item.licence}
        had = ledger.have(job.name, item.id)
        if had:
            ledger.write(**base, path=had["path"], status="skipped", reason="already_fetched", bytes=had["bytes"], sha256=had["sha256"],
                         http_status=None)
            counts["skipped"] += 1
            continue
        try:
            path, nbytes, digest, status = _fetch_one(service, job, client, item, folder)
        except QuotaExhausted as e:
            ledger.write(**base, status="failed", reason="quota", http_status=e.http_status)
            counts["failed"] += 1
            reasons["quota"] += 1
            stopped = str(e)
            print(f"[fetch] {job.name}: stopped: {e}; rerun to resume", file=log)
            break
        except FetchFailed as e:
            ledger.write(**base, status="failed", reason=e.reason, http_status=e.http_status)
            counts["failed"] += 1
            reasons[e.reason] += 1
            continue
        side = {"id": item.id, "service": job.service, "doi": item.doi, "licence": item.licence, "url": item.url, **item.meta}
        _write_atomic(path.with_name(path.name + SIDECAR_SUFFIX), (json.dumps(side, ensure_ascii=False, sort_keys=True) + "\n").encode())
        ledger.write(**base, path=str(path.relative_to(root)), status="fetched", http_status=status, bytes=nbytes, sha256=digest)
        counts["fetched"] += 1
        size += nbytes
        if time.monotonic() - last_report > 10:
            print(f"[fetch] {job.name}: {counts['requested']} requested, {counts['fetched']} fetched, {counts['failed']} failed", file=log)
            last_report = time.monotonic()
    result = {"service": job.service, "requested": counts["requested"], "fetched": counts["fetched"], "skipped": counts["skipped"],
              "failed": counts["failed"], "failed_by_reason": dict(sorted(reasons.items())), "bytes": size, "requests": client.requests}
    if stopped:
        result["stopped"] = stopped
    print(f"[fetch] {job.name}: {result['requested']} requested = {result['fetched']} fetched + {result['skipped']} skipped + "
          f"{result['failed']} failed {result['failed_by_reason'] or ''}", file=log)
    return result
