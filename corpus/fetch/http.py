"""The polite HTTP client every service uses: httpx for the requests, tenacity for the retries.

- a rate limit per job (`limits.per_second`, a minimum interval between requests);
- retries on 429, 500, 502, 503, 504, timeouts and dropped connections, waiting what `Retry-After` says (seconds or
  an HTTP date) or an exponential backoff; a Retry-After longer than `limits.max_wait_s`, or a 429 that outlasts the
  retries, is a quota: `QuotaExhausted` stops the job cleanly, and the ledger lets a later run resume;
- downloads streamed to a temporary file beside the target, capped at `limits.max_bytes` while reading, checked
  against what the reader expects (an HTML error page saved as `.xml` is a failure, not a paper), hashed, and
  renamed into place only when complete: a half-written file never looks complete;
- credentials only from headers the service builds from the environment; URLs in errors and the ledger are the
  request URLs, which never carry a key.
"""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from corpus.fetch.manifest import Limits

RETRY_STATUS = {429, 500, 502, 503, 504}


class FetchFailed(RuntimeError):
    """One item could not be fetched; `reason` is the ledger's short form (http_404, too_large, html_not_xml, ...)."""

    def __init__(self, reason: str, detail: str = "", http_status: int | None = None):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.http_status = reason, http_status


class QuotaExhausted(FetchFailed):
    """The service says to stop for longer than we wait (or keeps saying 429): the job stops, resumable."""


class _Retry(Exception):
    def __init__(self, status: int | None, wait: float | None, detail: str):
        super().__init__(detail)
        self.status, self.wait, self.detail = status, wait, detail


SECRET_PARAM = re.compile(r"(?i)([?&][^=&]*(?:key|token|secret|password)[^=&]*=)[^&#]*")


def redact(url: object) -> str:
    """A URL fit for logs and the ledger: the values of key-, token- and secret-like query parameters removed."""
    return SECRET_PARAM.sub(r"\1REDACTED", str(url))


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: a number of seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


@dataclass
class Download:
    path: Path
    bytes: int
    sha256: str
    http_status: int


def sniff(head: bytes, expect: str) -> str | None:
    """Why the first bytes are not what the reader expects (None when they are)."""
    text = head.lstrip()[:512].lower()
    if expect != "html" and (text.startswith(b"<!doctype html") or text.startswith(b"<html")):
        return "html_error_page"
    if expect == "pdf" and not head.startswith(b"%PDF"):
        return "not_pdf"
    if expect == "xml" and not text.startswith(b"<"):
        return "not_xml"
    if expect == "source" and not (head[:2] == b"\x1f\x8b" or text.startswith(b"%") or text.startswith(b"\\")):
        return "not_source"  # an arXiv e-print is a gzip (tar or single .tex) or, rarely, bare TeX
    if expect == "json" and not text.startswith((b"{", b"[")):
        return "not_json"
    if expect == "zip" and not head.startswith(b"PK\x03\x04"):
        return "not_zip"
    if expect == "csv" and (b"\x00" in head or not text):
        return "not_csv"
    if expect == "cif" and b"data_" not in head:
        return "not_cif"  # a CIF has a data block in its first kilobyte
    return None


class PoliteClient:
    def __init__(self, limits: Limits, headers: dict[str, str] | None = None, contact: str | None = None):
        self.limits = limits
        agent = "matcorpus-fetch/0.1" + (f" (mailto:{contact})" if contact else "")
        self.client = httpx.Client(timeout=limits.timeout_s, follow_redirects=True, headers={"User-Agent": agent, **(headers or {})})
        self._next = 0.0
        self.requests = 0

    def close(self) -> None:
        self.client.close()

    def pace(self) -> None:
        now = time.monotonic()
        if now < self._next:
            time.sleep(self._next - now)
        self._next = max(now, self._next) + 1.0 / self.limits.per_second

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception()
        if isinstance(error, _Retry) and error.wait is not None:
            return error.wait
        return self.limits.backoff_s * 2 ** (state.attempt_number - 1)

    def _attempts(self):
        return Retrying(stop=stop_after_attempt(self.limits.retries + 1), wait=self._wait,
                        retry=retry_if_exception(lambda e: isinstance(e, _Retry)), reraise=True)

    def _check(self, response: httpx.Response) -> None:
        if response.status_code in RETRY_STATUS:
            wait = retry_after_seconds(response.headers.get("Retry-After"))
            if wait is not None and wait > self.limits.max_wait_s:
                raise QuotaExhausted("quota", f"{redact(response.url)} asks to wait {wait:.0f} s", response.status_code)
            raise _Retry(response.status_code, wait, f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise FetchFailed(f"http_{response.status_code}", redact(response.url), response.status_code)

    def _run(self, call):
        try:
            for attempt in self._attempts():
                with attempt:
                    self.pace()
                    self.requests += 1
                    try:
                        return call()
                    except (httpx.TimeoutException, httpx.TransportError) as e:
                        raise _Retry(None, None, redact(f"{type(e).__name__}: {e}")) from None
        except _Retry as e:
            if e.status == 429:
                raise QuotaExhausted("quota", f"still 429 after {self.limits.retries} retries", 429) from None
            raise FetchFailed("http_" + str(e.status) if e.status else "network", e.detail, e.status) from None

    def get_bytes(self, url: str, params: dict | None = None, max_bytes: int | None = None) -> bytes:
        """A small response (a listing page), whole, capped while reading."""
        cap = max_bytes or self.limits.max_bytes

        def call() -> bytes:
            with self.client.stream("GET", url, params=params) as response:
                self._check(response)
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > cap:
                        raise FetchFailed("too_large", f"{redact(url)}: over {cap} bytes", response.status_code)
                declared = response.headers.get("Content-Length")
                if declared and declared.isascii() and declared.isdigit() and int(declared) != response.num_bytes_downloaded:
                    raise _Retry(None, None, f"truncated: {response.num_bytes_downloaded} of {declared} bytes")
                return bytes(body)

        return self._run(call)

    def download(self, url: str, target: Path, expect: str, params: dict | None = None) -> Download:
        """Stream `url` into `target` atomically (temporary file, then rename), capped and content-checked."""
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(target.name + ".partial")

        def call() -> Download:
            digest, size = hashlib.sha256(), 0
            try:
                with self.client.stream("GET", url, params=params) as response, open(partial, "wb") as out:
                    self._check(response)
                    head = b""
                    for chunk in response.iter_bytes():
                        if len(head) < 1024:
                            head += chunk[: 1024 - len(head)]
                        size += len(chunk)
                        if size > self.limits.max_bytes:
                            raise FetchFailed("too_large", f"{redact(url)}: over {self.limits.max_bytes} bytes", response.status_code)
                        digest.update(chunk)
                        out.write(chunk)
                    declared = response.headers.get("Content-Length")
                    if declared and declared.isascii() and declared.isdigit() and int(declared) != response.num_bytes_downloaded:
                        raise _Retry(None, None, f"truncated: {response.num_bytes_downloaded} of {declared} bytes")
                    problem = sniff(head, expect)
                    if problem:
                        raise FetchFailed(problem, redact(url), response.status_code)
                    if expect == "source" and head[:2] == b"\x1f\x8b":
                        _check_gzip(partial)
                    status = response.status_code
                os.replace(partial, target)
                return Download(target, size, digest.hexdigest(), status)
            finally:
                partial.unlink(missing_ok=True)

        return self._run(call)


def _check_gzip(path: Path) -> None:
    """A gzip that does not read to its end is truncated, whatever the server said."""
    try:
        with gzip.open(path, "rb") as f:
            while f.read(1 << 20):
                pass
    except (OSError, EOFError) as e:
        raise _Retry(None, None, f"truncated gzip: {e}") from None
