"""The polite HTTP client every service uses: httpx for the requests, tenacity for the retries.

- a rate limit per job (`limits.per_second`, a minimum interval between requests);
- retries on 429, 500, 502, 503, 504, timeouts and dropped connections, waiting what `Retry-After` says (seconds or
  an HTTP date) or an exponential backoff; a Retry-After longer than `limits.max_wait_s`, or a 429 that outlasts the
  retries, is a quota: `QuotaExhausted` stops the job cleanly, and the ledger lets a later run resume;
- downloads streamed to a temporary file beside the target, capped at `limits.max_bytes` while reading, checked
  against what the reader expects (an HTML error page saved as `.xml` is a failure, not a paper), hashed, and
  renamed into place only when complete: a half-written file never looks complete;
- credentials only from headers the service builds from the environment, sent only to the job's configured
  origins (redirects are followed hop by hop here; a hop or a next-page link to another origin goes without them);
  URLs in errors and the ledger are the request URLs, which never carry a key;
- every request held to a time budget as a whole (`TimeBudget`), not only between reads: a trickling server fails
  the item `too_slow`; a redirect loop, a body that does not decode, an unusable URL are failures with a reason.
"""

from __future__ import annotations

import email.utils
import gzip
import hashlib
import os
import re
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpcore
import httpx
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from corpus.fetch.manifest import Limits

RETRY_STATUS = {429, 500, 502, 503, 504}


class FetchFailed(RuntimeError):
    """One item could not be fetched; `reason` is the ledger's short form (http_404, too_large, html_not_xml, ...)."""

    def __init__(self, reason: str, detail: str = "", http_status: int | None = None):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail, self.http_status = reason, detail, http_status


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


MAX_REDIRECTS = 10
REDIRECTS = {301, 302, 303, 307, 308}
HELD_LOCATION = "X-Matcorpus-Location"


def _hold_location(response: httpx.Response) -> None:
    """httpx builds a redirect's next request even when it does not follow it (copying headers, and failing the whole
    answer on a Location it cannot parse): the Location is moved aside so that each redirect is ours to judge
    (bad_url) and to follow, with credentials only where they belong."""
    if "Location" in response.headers:
        response.headers[HELD_LOCATION] = response.headers.pop("Location")


def origin(url: httpx.URL | str) -> tuple[str, str, int | None]:
    """(scheme, host, port) with the scheme's default port filled in: what a credential is bound to."""
    url = httpx.URL(url)
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host.lower(), port


class TimeBudget:
    """How long the request in flight may still take: `timeout_s` + its bytes so far / `min_bytes_per_s`, never more
    than `max_item_s`, and never past `deadline` (a monotonic time the client sets for a whole dry run's job).

    httpx's timeouts bound each wait for the next bytes, so a server that sends one byte a second keeps a request
    alive for ever; the budget is checked before every read and write of the connection and shortens each wait to
    what is left, so a trickle (in the headers as well as the body) ends at its deadline."""

    def __init__(self, limits: Limits):
        self.limits, self.deadline = limits, None
        self.start: float | None = None
        self.received = 0

    def begin(self) -> None:
        self.start, self.received = time.monotonic(), 0

    def left(self) -> float:
        now = time.monotonic()
        spent = now - (self.start if self.start is not None else now)
        left = min(self.limits.timeout_s + self.received / self.limits.min_bytes_per_s, self.limits.max_item_s) - spent
        return min(left, self.deadline - now) if self.deadline is not None else left

    def wait(self, timeout: float | None) -> float | None:
        """The timeout for the next read, write or connect: the configured one, shortened to what is left."""
        left = self.left()
        if left <= 0:
            raise httpcore.ReadTimeout("over the time budget")
        return left if timeout is None else min(timeout, left)

    def spent(self) -> bool:
        return self.left() <= 0.01


class _BudgetStream(httpcore.NetworkStream):
    def __init__(self, stream: httpcore.NetworkStream, budget: TimeBudget):
        self.stream, self.budget = stream, budget

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        data = self.stream.read(max_bytes, self.budget.wait(timeout))
        self.budget.received += len(data)
        return data

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self.stream.write(buffer, self.budget.wait(timeout))

    def close(self) -> None:
        self.stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        return _BudgetStream(self.stream.start_tls(ssl_context, server_hostname, self.budget.wait(timeout)), self.budget)

    def get_extra_info(self, info: str):
        return self.stream.get_extra_info(info)


class _BudgetBackend(httpcore.NetworkBackend):
    """httpcore's own socket backend with every connection's reads, writes and connects held to a TimeBudget."""

    def __init__(self, budget: TimeBudget):
        self.backend, self.budget = httpcore.SyncBackend(), budget

    def connect_tcp(self, host, port, timeout=None, local_address=None, socket_options=None):
        return _BudgetStream(self.backend.connect_tcp(host, port, self.budget.wait(timeout), local_address, socket_options), self.budget)

    def connect_unix_socket(self, path, timeout=None, socket_options=None):
        return _BudgetStream(self.backend.connect_unix_socket(path, self.budget.wait(timeout), socket_options), self.budget)

    def sleep(self, seconds: float) -> None:
        self.backend.sleep(seconds)


def _hold_to_budget(client: httpx.Client, budget: TimeBudget) -> None:
    """Every connection pool of `client` (the direct one, and those httpx made for the proxies the environment names:
    HTTPS_PROXY, NO_PROXY, ...) opens its connections through a _BudgetBackend. httpx takes no network backend, but
    httpcore's pools do: the backend is set on the pools httpx built, so the environment's proxies keep working.
    tests/test_fetch_hostile.py fails if this stops holding."""
    for transport in [client._transport, *client._mounts.values()]:
        pool = getattr(transport, "_pool", None)
        if pool is not None:
            pool._network_backend = _BudgetBackend(budget)


class PoliteClient:
    """One job's HTTP client. `credentials` (headers) go only with requests to `origins`, the job's configured
    endpoints: redirects are followed here, hop by hop, and a hop to another origin (or from https to http) carries
    no credential, as a next-page link to another host does not."""

    def __init__(self, limits: Limits, headers: dict[str, str] | None = None, contact: str | None = None,
                 origins: list[str] | None = None):
        self.limits = limits
        agent = "matcorpus-fetch/0.1" + (f" (mailto:{contact})" if contact else "")
        self.budget = TimeBudget(limits)
        self.client = httpx.Client(timeout=limits.timeout_s, follow_redirects=False, headers={"User-Agent": agent},
                                   event_hooks={"response": [_hold_location]})
        _hold_to_budget(self.client, self.budget)
        self.credentials = dict(headers or {})
        self.origins = {origin(u) for u in origins or [] if u}
        self._next = 0.0
        self.requests = 0

    def close(self) -> None:
        self.client.close()

    def set_deadline(self, seconds: float | None) -> None:
        """Every request of this client from now on ends within `seconds` (a dry run's count), retries included."""
        self.budget.deadline = None if seconds is None else time.monotonic() + seconds

    def pace(self) -> None:
        now = time.monotonic()
        if now < self._next:
            time.sleep(self._next - now)
        self._next = max(now, self._next) + 1.0 / self.limits.per_second

    def _wait(self, state: RetryCallState) -> float:
        error = state.outcome.exception()
        wait = error.wait if isinstance(error, _Retry) and error.wait is not None else self.limits.backoff_s * 2 ** (state.attempt_number - 1)
        if self.budget.deadline is not None and time.monotonic() + wait >= self.budget.deadline:
            last = f" (last: {error.detail})" if isinstance(error, _Retry) else ""
            raise FetchFailed("too_slow", f"no answer before the deadline{last}")  # a dry run does not sleep past its deadline
        return wait

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
        if response.status_code >= 300:
            raise FetchFailed("bad_redirect", f"{redact(response.url)}: HTTP {response.status_code} without a usable Location",
                              response.status_code)

    def _request(self, url: httpx.URL | str, params: dict | None) -> httpx.Request:
        try:
            target = httpx.URL(url, params=params) if params else httpx.URL(url)
            if target.scheme not in ("http", "https") or not target.host:
                raise FetchFailed("bad_url", f"{redact(target)}: not an http(s) URL")
            headers = self.credentials if origin(target) in self.origins else {}
            return self.client.build_request("GET", target, headers=headers)
        except (httpx.InvalidURL, ValueError, UnicodeError, TypeError) as e:
            raise FetchFailed("bad_url", redact(f"{str(url)[:200]}: {e}")) from None

    @contextmanager
    def _open(self, url: str, params: dict | None):
        """The response to GET `url`, streamed, after its redirects (at most MAX_REDIRECTS, none seen twice)."""
        request, seen = self._request(url, params), set()
        for _ in range(MAX_REDIRECTS + 1):
            seen.add(str(request.url))
            self.budget.begin()
            response = self.client.send(request, stream=True)
            location = response.headers.get(HELD_LOCATION) if response.status_code in REDIRECTS else None
            if location is None:
                try:
                    yield response
                finally:
                    response.close()
                return
            response.close()
            try:
                target = response.url.join(location)
            except (httpx.InvalidURL, ValueError, UnicodeError) as e:
                raise FetchFailed("bad_url", redact(f"redirect to {location[:200]}: {e}")) from None
            if str(target) in seen:
                raise FetchFailed("redirect_loop", f"{redact(request.url)} redirects back to {redact(target)}")
            request = self._request(target, None)
        raise FetchFailed("redirect_loop", f"more than {MAX_REDIRECTS} redirects from {redact(url)}")

    def _run(self, call):
        try:
            for attempt in self._attempts():
                with attempt:
                    self.pace()
                    self.requests += 1
                    try:
                        return call()
                    except httpx.TimeoutException as e:
                        if self.budget.spent():
                            raise FetchFailed("too_slow", redact(f"over its time budget (timeout_s {self.limits.timeout_s:g} + "
                                                                 f"bytes / {self.limits.min_bytes_per_s:g} per s, at most "
                                                                 f"{self.limits.max_item_s:g} s): {e}")) from None
                        raise _Retry(None, None, redact(f"{type(e).__name__}: {e}")) from None
                    except httpx.UnsupportedProtocol as e:
                        raise FetchFailed("bad_url", redact(str(e))) from None
                    except httpx.TransportError as e:
                        raise _Retry(None, None, redact(f"{type(e).__name__}: {e}")) from None
                    except httpx.DecodingError as e:
                        raise FetchFailed("bad_encoding", redact(f"the body does not decode as its Content-Encoding says: {e}")) from None
                    except httpx.HTTPError as e:  # anything else httpx refuses in an answer
                        raise FetchFailed("bad_response", redact(f"{type(e).__name__}: {e}")) from None
        except _Retry as e:
            if e.status == 429:
                raise QuotaExhausted("quota", f"still 429 after {self.limits.retries} retries", 429) from None
            raise FetchFailed("http_" + str(e.status) if e.status else "network", e.detail, e.status) from None

    def get_bytes(self, url: str, params: dict | None = None, max_bytes: int | None = None) -> bytes:
        """A small response (a listing page), whole, capped while reading at the smallest of `max_bytes` (the
        service's page cap), the job's `max_listing_bytes` and its `max_bytes`."""
        cap = min(max_bytes or self.limits.max_listing_bytes, self.limits.max_listing_bytes, self.limits.max_bytes)

        def call() -> bytes:
            with self._open(url, params) as response:
                self._check(response)
                body = bytearray()
                for chunk in response.iter_bytes():
                    body += chunk
                    if len(body) > cap:
                        raise FetchFailed("too_large", f"{redact(url)}: a listing page over {cap} bytes", response.status_code)
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
                with self._open(url, params) as response, open(partial, "wb") as out:
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
