"""`corpus fetch` against local servers: items per second per service, with the default politeness settings and with
the rate limit lifted (the client's own cost), and the projection for LLaMat's 4.06M papers (issue 19, "Measured").

The servers are the fault-injecting ones of tests/test_fetch.py (127.0.0.1, real content: the bundled arXiv source,
the Elsevier fixture, the Springer JATS sample as PMC lists it, MP-20 crystals; PMC's bucket on moto's S3 server), here with their one-off faults answered first, so a
run measures the steady state plus one retry per service. Each service fetches N items into a fresh folder.

    .venv/bin/python benchmarks/fetch_rates.py [--json benchmarks/results/fetch_rates.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
import test_fetch as servers  # noqa: E402  (test tooling: the protocol-speaking local servers)
from conftest import moto_s3  # noqa: E402
from test_fetch_pmc_s3 import seed_pmc_bucket  # noqa: E402

PMC_S3_ARTICLES = {f"PMC{2000000 + n}": ([1], "CC BY", False, True) for n in range(20)}

from corpus.fetch.manifest import load_fetch_manifest  # noqa: E402
from corpus.fetch.run import fetch  # noqa: E402

LLAMAT = {"elsevier": 3_420_000, "springer": 640_000}  # papers by publisher (reference/corpus_priority.csv, the paper)


def jobs(url: str, s3_url: str, tmp: Path, lifted: bool) -> list[dict]:
    limits = {"per_second": 50, "retries": 3, "backoff_s": 0.01} if lifted else {"retries": 3, "backoff_s": 0.01}
    (tmp / "dois.txt").write_text("\n".join(f"10.1016/j.jallcom.2020.{n:04d}" for n in range(1, 41)) + "\n")
    return [
        {"name": "arxiv", "service": "arxiv", "into": "arxiv", "endpoint": f"{url}/oai", "files_endpoint": url,
         "categories": ["cond-mat.mtrl-sci", "cond-mat.supr-con"], "limits": limits},
        {"name": "optimade", "service": "optimade", "into": "crystals", "endpoint": f"{url}/v1", "filter": "nelements>=1", "page_limit": 3,
         "limits": limits},
        {"name": "elsevier", "service": "elsevier", "into": "elsevier", "endpoint": url, "dois_from": str(tmp / "dois.txt"),
         "api_key_env": "BENCH_KEY", "limits": limits},
        {"name": "pmc", "service": "pmc", "into": "pmc", "endpoint": f"{url}/pmc/oai/oai.cgi", "from_date": "2025-01-01", "limits": limits},
        {"name": "pmc_s3", "service": "pmc_s3", "into": "pmc_s3", "endpoint": s3_url, "pmcids": list(PMC_S3_ARTICLES), "limits": limits},
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json")
    args = parser.parse_args()
    os.environ["BENCH_KEY"] = "bench"
    import yaml

    results = {}
    s3 = moto_s3()  # PMC's Cloud Service bucket, laid out as tests/test_fetch_pmc_s3.py lays it out
    s3_url = s3.__enter__()
    seed_pmc_bucket(s3_url, PMC_S3_ARTICLES)
    for lifted in (False, True):
        httpd = ThreadingHTTPServer(("127.0.0.1", 0), servers.Faults)
        httpd.state = {"calls": [], "auth": [], "agents": [], "seen": {}, "elsevier_keys": [], "springer_keys": []}
        threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        with tempfile.TemporaryDirectory() as tmp:
            tmp = Path(tmp)
            for job in jobs(url, s3_url, tmp, lifted):
                manifest = {"name": "bench", "output_dir": str(tmp / ("out_" + job["name"])), "jobs": [job]}
                path = tmp / f"{job['name']}.yaml"
                path.write_text(yaml.safe_dump(manifest))
                loaded = load_fetch_manifest(path)
                start = time.perf_counter()
                with open(os.devnull, "w") as quiet:
                    summary = fetch(loaded, log=quiet)[job["name"]]
                seconds = time.perf_counter() - start
                key = f"{job['name']}, {'rate limit lifted' if lifted else 'default limits'}"
                results[key] = {"items": summary["requested"], "fetched": summary["fetched"], "requests": summary["requests"],
                                "seconds": round(seconds, 2), "items_per_s": round(summary["requested"] / seconds, 2),
                                "requests_per_s_limit": round(loaded.jobs[0].limits.per_second, 3)}
        httpd.shutdown()
    s3.__exit__(None, None, None)
    defaults = {"elsevier": 5.0, "springer": 2.0}  # corpus/fetch/manifest.py
    projection = {publisher: {"papers": n, "requests_per_s": defaults[publisher], "days_at_the_rate_limit": round(n / defaults[publisher] / 86400, 1)}
                  for publisher, n in LLAMAT.items()}
    print("| service | limit (requests / s) | items | fetched | requests | seconds | items / s |\n|---|---:|---:|---:|---:|---:|---:|")
    for key, r in results.items():
        print(f"| {key} | {r['requests_per_s_limit']} | {r['items']} | {r['fetched']} | {r['requests']} | {r['seconds']} | {r['items_per_s']} |")
    print("\nprojection (LLaMat's papers, one key per publisher, default rate, quotas not included):")
    for publisher, p in projection.items():
        print(f"  {publisher}: {p['papers']:,} papers at {p['requests_per_s']} requests/s = {p['days_at_the_rate_limit']} days")
    if args.json:
        Path(args.json).write_text(json.dumps({"runs": results, "projection": projection}, indent=2) + "\n")


if __name__ == "__main__":
    main()
