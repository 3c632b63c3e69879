"""One S3 bucket as the fetch jobs use it (boto3): the job's rate and request count, boto3's retries counted as the job's
`retries`, S3's refusals as the ledger's reasons, bodies streamed capped and checksummed, and a body cut short asked
for again. arXiv's requester-pays bucket (arxiv_bulk) and PubMed Central's world-readable one (pmc_s3) share it."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

from corpus.fetch.http import Download, FetchFailed, PoliteClient, QuotaExhausted

CHUNK = 1 << 20


class S3Bucket:
    def __init__(self, client: PoliteClient, endpoint: str | None, bucket: str, *, requester_pays: bool = False, unsigned: bool = False):
        self.client, self.endpoint, self.bucket = client, endpoint, bucket
        self.requester_pays, self.unsigned = requester_pays, unsigned
        self._s3 = None

    def s3(self):
        if self._s3 is None:
            import boto3
            from botocore import UNSIGNED
            from botocore.config import Config

            limits = self.client.limits
            # total_max_attempts counts the first request (botocore's max_attempts counts only the retries)
            config = Config(retries={"total_max_attempts": limits.retries + 1, "mode": "standard"},
                            connect_timeout=limits.timeout_s, read_timeout=limits.timeout_s,
                            **({"signature_version": UNSIGNED} if self.unsigned else {}))
            self._s3 = boto3.client("s3", endpoint_url=self.endpoint, region_name="us-east-1", config=config)
        return self._s3

    def _call(self, what: str, key: str, **kwargs):
        from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

        self.client.pace()  # the job's rate limit, shared with everything this job asks
        self.client.requests += 1
        payer = {"RequestPayer": "requester"} if self.requester_pays else {}
        try:
            return getattr(self.s3(), what)(Bucket=self.bucket, **payer, **kwargs)
        except NoCredentialsError:
            raise FetchFailed("no_credentials", f"the bucket {self.bucket} is requester-pays: set AWS_ACCESS_KEY_ID and "
                                                "AWS_SECRET_ACCESS_KEY") from None
        except ClientError as e:
            error = e.response.get("Error", {})
            status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            if error.get("Code") in ("SlowDown", "Throttling", "RequestLimitExceeded"):  # past boto3's own retries
                raise QuotaExhausted("quota", f"S3 {error.get('Code')} on {key}", status) from None
            raise FetchFailed(f"s3_{(error.get('Code') or status or 'error')}".lower(), f"{key}: {error.get('Message', '')}",
                              http_status=status) from None
        except BotoCoreError as e:  # connection failures past the retries
            raise FetchFailed("network", f"{key}: {type(e).__name__}") from None

    def get(self, key: str):
        return self._call("get_object", key, Key=key)

    def prefixes(self, prefix: str) -> Iterator[str]:
        """The "folders" right under `prefix` (list_objects_v2 with a / delimiter), page by page."""
        token = None
        while True:
            page = self._call("list_objects_v2", prefix, Prefix=prefix, Delimiter="/", **({"ContinuationToken": token} if token else {}))
            yield from (p["Prefix"] for p in page.get("CommonPrefixes", []))
            token = page.get("NextContinuationToken")
            if not page.get("IsTruncated") or not token:
                return

    @staticmethod
    def read(body, key: str, size: int = CHUNK) -> bytes:
        """The next chunk of an object's body; a body cut short (the connection closed before its Content-Length, a read
        timeout) is this item's failure, never the fetch's crash."""
        from botocore.exceptions import BotoCoreError
        from urllib3.exceptions import HTTPError

        try:
            return body.read(size)
        except (BotoCoreError, HTTPError, OSError) as e:
            raise FetchFailed("truncated", f"{key}: the body stopped short ({type(e).__name__})") from None

    def read_all(self, key: str, cap: int) -> bytes:
        data = self.read(self.get(key)["Body"], key, cap + 1)
        if len(data) > cap:
            raise FetchFailed("too_large", f"{key} is over {cap} bytes")
        return data

    def download(self, key: str, target: Path, md5: str | None = None) -> Download:
        """Stream an object to a temporary file, capped at the job's max_bytes, its MD5 checked when one is given, then
        into place. A body cut short is asked for again (boto3 retries a refused request, not a broken stream), up to
        the job's retries."""
        retries = self.client.limits.retries
        for attempt in range(retries + 1):
            try:
                return self._download_once(key, target, md5)
            except FetchFailed as e:
                if e.reason != "truncated" or attempt == retries:
                    raise
        raise AssertionError("unreachable")

    def _download_once(self, key: str, target: Path, md5: str | None) -> Download:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")
        answer = self.get(key)
        cap = self.client.limits.max_bytes
        sha, check, size = hashlib.sha256(), hashlib.md5(), 0  # noqa: S324 - MD5 is what the buckets' manifests give
        try:
            with open(partial, "wb") as out:
                for chunk in iter(lambda: self.read(answer["Body"], key), b""):
                    size += len(chunk)
                    if size > cap:
                        raise FetchFailed("too_large", f"{key} is over {cap} bytes")
                    sha.update(chunk)
                    check.update(chunk)
                    out.write(chunk)
            if md5 and check.hexdigest() != md5.lower():
                raise FetchFailed("checksum_mismatch", f"{key}: MD5 {check.hexdigest()}, the listing says {md5.lower()}")
            os.replace(partial, target)
        finally:
            if partial.exists():
                partial.unlink()
        return Download(target, size, sha.hexdigest(), answer.get("ResponseMetadata", {}).get("HTTPStatusCode", 200))
