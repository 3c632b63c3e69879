"""arXiv in bulk: the e-print (or PDF) tars of arXiv's requester-pays S3 bucket, as arXiv documents them
(arxiv.org/help/bulk_data_s3): `src/arXiv_src_manifest.xml` lists every tar (`src/arXiv_src_YYMM_NNN.tar`, ~500 MB,
with its month, MD5 and paper count); each tar holds one gzipped e-print per paper (`YYMM/ID.gz`, or `ID.pdf` where
a paper has only a PDF).

Why: the OAI-PMH route (arxiv.py) fetches one e-print every three seconds, ~29k papers a day; the bulk route is how
the whole of arXiv's materials categories is got. The requester pays the transfer, so the AWS credentials are needed
(boto3 reads them from its own environment variables; they never reach the manifest, the ledger or the logs).

An item is a tar: it is streamed to `.bulk/NAME.tar` inside the job's folder (a dot-folder, which the readers pass
over; kept so that a rerun skips it by the ledger's checksum), its MD5 checked against the manifest's, then unpacked
into one file per paper, named as the OAI route names them (ID.tar.gz / ID.tex.gz for the latex reader, ID.pdf),
each with a side-car (the tar it came from, and the licence and categories of the paper's OAI record when
`ids_from` is an `arxiv` job's folder of records). With `ids_from`, only the papers listed there are unpacked.
"""

from __future__ import annotations

import json
import os
import re
import tarfile
from collections.abc import Iterator
from pathlib import Path

from defusedxml import ElementTree

from corpus.fetch.arxiv import name_eprint
from corpus.fetch.http import Download, FetchFailed, PoliteClient
from corpus.fetch.manifest import ArxivBulkJob, yymm_order
from corpus.fetch.names import file_name, inside
from corpus.fetch.s3 import S3Bucket
from corpus.fetch.service import Item
from corpus.records import SIDECAR_SUFFIX

MANIFEST_CAP = 64 * 2**20  # the src manifest is a few MB


def _key_id(name: str) -> str:
    """The arXiv id of a tar member: 2401/2401.00001.gz -> 2401.00001; 9912/cond-mat9912001.gz -> cond-mat9912001."""
    return re.sub(r"\.(gz|pdf)$", "", os.path.basename(name))


def _bare(arxiv_id: str) -> str:
    """An id as the tars write it: old-style ids lose their slash (cond-mat/9912001 -> cond-mat9912001), versions go."""
    return re.sub(r"v\d+$", "", arxiv_id.replace("/", ""))


class ArxivBulkService:
    def __init__(self, job: ArxivBulkJob, client: PoliteClient):
        self.job, self.client = job, client
        self.root = Path(".")  # the fetch's output_dir, set by the loop: ids_from is read under it
        self.bucket = S3Bucket(client, job.endpoint, job.bucket, requester_pays=job.requester_pays)
        self.notes: list[str] = []

    def _tars(self) -> list[dict]:
        try:
            body = self.bucket.read_all(f"{self.job.kind}/arXiv_{self.job.kind}_manifest.xml", MANIFEST_CAP)
        except FetchFailed as e:
            if e.reason != "too_large":
                raise
            raise FetchFailed("bad_listing", "the bulk manifest is larger than its cap") from None
        try:
            root = ElementTree.fromstring(body)
        except (ElementTree.ParseError, ValueError) as e:
            raise FetchFailed("bad_listing", f"the bulk manifest is not usable XML: {e}") from None
        low = yymm_order(self.job.from_yymm) if self.job.from_yymm else 0
        high = yymm_order(self.job.until_yymm) if self.job.until_yymm else 10**9
        tars = []
        for entry in root.iter("file"):
            row = {child.tag: (child.text or "").strip() for child in entry}
            yymm, name = row.get("yymm", ""), row.get("filename", "")
            if not (re.fullmatch(r"\d{4}", yymm) and name.endswith(".tar")) or not low <= yymm_order(yymm) <= high:
                continue
            tars.append(row)
        return tars

    def count(self) -> int | None:
        tars = self._tars()
        papers = sum(int(t["num_items"]) for t in tars if t.get("num_items", "").isdigit())
        size = sum(int(t["size"]) for t in tars if t.get("size", "").isdigit())
        self.notes.append(f"{len(tars)} tars: {papers} papers, {size / 1e9:.1f} GB to transfer (requester pays)")
        return len(tars)

    def _wanted(self) -> dict[str, dict] | None:
        """The papers to keep (bare id -> its OAI record, or {}), or None for every paper."""
        if not self.job.ids_from:
            return None
        source = Path(self.job.ids_from)
        source = source if source.is_absolute() else self.root / source
        wanted = {}
        if source.is_dir():
            for path in sorted(source.glob("*.json")):
                try:
                    record = json.loads(path.read_text(encoding="utf-8"))
                except (OSError, ValueError):
                    continue  # not an arxiv job's record
                if isinstance(record, dict) and isinstance(record.get("id"), str):
                    wanted[_bare(record["id"])] = record
        elif source.is_file():
            for line in source.read_text(encoding="utf-8").splitlines():
                if line.strip() and not line.startswith("#"):
                    wanted[_bare(line.strip())] = {}
        else:
            raise FetchFailed("no_ids", f"ids_from: {source} is neither an arxiv job's folder nor a file of ids")
        return wanted

    def discover(self) -> Iterator[Item]:
        self.wanted = self._wanted()
        for tar in self._tars():
            name = tar["filename"]
            yield Item(id=name, filename=f".bulk/{file_name(os.path.basename(str(name)))}", expect="tar",
                       url=f"s3://{self.job.bucket}/{name}", licence=None,
                       meta={"yymm": tar["yymm"], "md5": tar.get("md5sum"), "papers": tar.get("num_items")})

    def download(self, item: Item, target: Path) -> Download:
        """The tar, streamed to `.bulk/`, its MD5 checked against the manifest's (S3Bucket.download)."""
        return self.bucket.download(item.id, target, (item.meta.get("md5") or "").lower() or None)

    def finalise(self, path: Path) -> Path:
        """Unpack the tar's papers beside `.bulk/` (only the wanted ones); the tar stays, it is the ledger's item."""
        folder = path.parent.parent
        wanted = getattr(self, "wanted", None)
        cap = self.job.limits.max_bytes
        try:
            with tarfile.open(path, "r:") as tar:
                for member in tar:
                    if not member.isfile() or not member.name.endswith((".gz", ".pdf")) or member.size > cap:
                        continue  # links, folders and anything else a tar may hold are never written
                    paper = _key_id(member.name)
                    if wanted is not None and paper not in wanted:
                        continue
                    record = wanted.get(paper, {}) if wanted is not None else {}
                    arxiv_id = record.get("id") or paper
                    data = tar.extractfile(member).read()
                    out = inside(folder, folder / file_name(arxiv_id, ".pdf" if member.name.endswith(".pdf") else ".gz"))
                    partial = out.with_name(out.name + ".partial")
                    partial.write_bytes(data)
                    os.replace(partial, out)
                    try:
                        final = name_eprint(out)
                    except (OSError, EOFError):  # not a readable gzip: kept as it came, the reader will say why
                        final = out
                    side = {"id": arxiv_id, "service": "arxiv_bulk", "tar": path.name, "licence": record.get("licence"),
                            "doi": record.get("doi"), **{k: record[k] for k in ("title", "categories") if k in record}}
                    final.with_name(final.name + SIDECAR_SUFFIX).write_text(json.dumps(side, ensure_ascii=False, sort_keys=True) + "\n")
        except (tarfile.TarError, OSError) as e:
            raise FetchFailed("bad_tar", f"{path.name}: {e}") from None
        return path
