"""CDVAE's coverage fingerprints of crystals, fast enough for 10,000 generations: in parallel over the cores, cached on
disk by a structure hash, each under a time limit, and computed once per symmetry-distinct site.

A crystal's fingerprint pair is CDVAE's: the mean CrystalNN "ops" site fingerprint (matminer) over the crystal's
sites, and the magpie ElementProperty composition fingerprint. What is added for speed:
- sites that the crystal's symmetry maps onto each other (spglib, `SYMPREC` Å) are fingerprinted
  once and weighted by their number: the mean is the same mean (largest difference from fingerprinting every site
  5.3e-4 on MP-20 test crystals, against CDVAE's cutoff of 0.4; 1.8-1.9x faster on MP-20, ~1x on Carbon-24 and on
  noisy generations: `benchmarks/coverage.py --sets`, BENCHMARKS.md "Coverage");
  a crystal whose symmetry cannot be found is fingerprinted site by site;
- crystals are fingerprinted by a pool of worker processes (`workers`, all cores by default);
- each site gets `site_time_limit` seconds (5 by default: crystal-text-llm's `timeout_featurize`, which LLaMat's
  evaluation runs) and each crystal `time_limit` (60 by default, a bound on the whole crystal that the reference
  does not have): past either the crystal is a `site_timeout` or `timeout`, counted and left out of coverage as the
  reference leaves out a crystal it cannot fingerprint. Crowded cells (near-flat generated lattices packing
  hundreds of images into CrystalNN's search sphere) are searched from a smaller sphere (eval/crystalnn.py,
  `crowded_radius`), which is what keeps real generations inside these limits;
- fingerprints are cached in an SQLite file keyed by a hash of the structure and of the fingerprint definition, so a
  benchmark's reference split is fingerprinted once, and a rerun on the same generations costs nothing.
Every crystal ends with one status (`STATUSES`), which the caller counts.
"""

from __future__ import annotations

import hashlib
import math
import os
import signal
import sqlite3
import sys
import threading
import time
import warnings
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass

import numpy as np
from pymatgen.core import Composition, Structure

# ok: fingerprinted; small_cell: under 0.1 Å³ (CDVAE: "unrealistically small lattice", left out); failed: matminer
# cannot fingerprint it; timeout: over the per-crystal time limit
# site_timeout: one site's fingerprint over the per-site limit (crystal-text-llm's `timeout_featurize`, which LLaMat's
# evaluation runs, gives each site 5 s and leaves a crystal with a site past it without a fingerprint)
STATUSES = ("ok", "small_cell", "failed", "timeout", "site_timeout")
TIMED_OUT = frozenset({"timeout", "site_timeout"})  # depend on the machine and the limits, not on the crystal
SITE_TIME_LIMIT = 5.0
SYMPREC = 1e-3
PROGRESS_EVERY = 10.0  # seconds between progress lines on stderr

def _definition() -> str:
    """Part of every cache key: a change of the definition or of matminer (whose featurisers compute it) is a new cache."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        matminer = version("matminer")
    except PackageNotFoundError:
        matminer = "?"
    return f"cdvae-crystalnn-ops-mean+magpie/v2 matminer {matminer}"


DEFINITION = _definition()



@dataclass
class Fingerprint:
    status: str
    structure: np.ndarray | None = None
    composition: np.ndarray | None = None


def structure_key(crystal: Structure) -> str:
    """A hash of what the fingerprint depends on: lattice, species and fractional coordinates (wrapped into the cell,
    to 1e-6), and the fingerprint definition."""
    h = hashlib.sha256(DEFINITION.encode())
    h.update(np.round(crystal.lattice.matrix, 6).tobytes())
    h.update("|".join(str(sp) for sp in crystal.species).encode())
    h.update(np.round(np.mod(crystal.frac_coords, 1.0), 6).tobytes())
    return h.hexdigest()


class _Timeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise _Timeout


_FEATURIZERS = None


def _featurizers():
    global _FEATURIZERS
    if _FEATURIZERS is None:
        from matminer.featurizers.composition.composite import ElementProperty

        from eval.crystalnn import CrystalNNOpsFingerprint

        _FEATURIZERS = (CrystalNNOpsFingerprint(), ElementProperty.from_preset("magpie", impute_nan=True))
    return _FEATURIZERS


def _distinct_sites(crystal: Structure) -> list[list[int]]:
    """Classes of symmetry-equivalent sites: spglib's `equivalent_atoms` at SYMPREC Å (its default angle rule: the
    distance tolerance alone). Asked of spglib directly rather than through pymatgen's SpacegroupAnalyzer, whose
    symmetrized structure (every operation built) cost more than the fingerprint on noisy generations; the
    benchmark measures the fingerprint difference of the shortcut (BENCHMARKS.md "Coverage")."""
    import spglib

    numbers = {}
    cell = (crystal.lattice.matrix, crystal.frac_coords, [numbers.setdefault(sp, len(numbers) + 1) for sp in crystal.species])
    try:
        dataset = spglib.get_symmetry_dataset(cell, symprec=SYMPREC)
    except Exception:  # noqa: BLE001 - spglib refuses some generated cells
        dataset = None
    if dataset is None:  # no symmetry found: every site is its own class
        return [[i] for i in range(len(crystal))]
    classes: dict[int, list[int]] = {}
    for i, representative in enumerate(dataset.equivalent_atoms):
        classes.setdefault(int(representative), []).append(i)
    return list(classes.values())


def _compute(crystal: Structure, arm=None) -> Fingerprint:
    """The fingerprint pair; `arm(site)` is called before each site (True) and before the composition (False): it sets
    the alarm that bounds the next step."""
    site_fp, comp_fp = _featurizers()
    arm = arm or (lambda site: None)
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            classes = _distinct_sites(crystal)
            struct = 0.0
            for g in classes:
                arm(True)
                struct = struct + len(g) * np.asarray(site_fp.featurize(crystal, g[0]), dtype=float)
            struct = struct / len(crystal)
            arm(False)
            comp = np.asarray(comp_fp.featurize(Composition(crystal.composition)), dtype=float)
        return Fingerprint("ok", struct, comp)
    except _Timeout:
        raise
    except Exception:  # noqa: BLE001 - as CDVAE: a crystal without a fingerprint is left out of coverage
        return Fingerprint("failed")


def fingerprint(crystal: Structure, time_limit: float = 0.0, site_time_limit: float = SITE_TIME_LIMIT) -> Fingerprint:
    """One crystal's fingerprint pair (or the status that says why there is none). `time_limit` bounds the whole
    crystal and `site_time_limit` each site's fingerprint (0: no limit); past either the crystal is `timeout` or
    `site_timeout`."""
    if crystal.volume < 0.1:  # CDVAE leaves such a cell out (and CrystalNN stalls on it)
        return Fingerprint("small_cell")
    _featurizers()  # built outside the time limit
    # SIGALRM can only be handled in a process's main thread: elsewhere (mateval called from a thread) no limit
    if (time_limit <= 0 and site_time_limit <= 0) or threading.current_thread() is not threading.main_thread():
        return _compute(crystal)
    deadline = time.monotonic() + time_limit if time_limit > 0 else math.inf
    which = ["timeout"]

    def arm(site: bool) -> None:  # the next step gets the rest of the crystal's time, or a site's if that is less
        left = deadline - time.monotonic()
        bounded_by_site = site and 0 < site_time_limit < left
        which[0] = "site_timeout" if bounded_by_site else "timeout"
        step = site_time_limit if bounded_by_site else left
        if step <= 0:
            raise _Timeout
        signal.setitimer(signal.ITIMER_REAL, 0 if math.isinf(step) else step)  # 0 disarms: no limit on this step

    previous = signal.signal(signal.SIGALRM, _on_alarm)
    result = None
    try:
        try:
            result = _compute(crystal, arm)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
    except _Timeout:  # the alarm can go off anywhere up to the moment it is disarmed: the crystal timed out
        result = Fingerprint(which[0])
    signal.signal(signal.SIGALRM, previous)
    return result


def _work(job: tuple[Structure, float, float]) -> Fingerprint:
    return fingerprint(*job)


class FingerprintCache:
    """Fingerprints by structure key in one SQLite file (written by the parent process only)."""

    def __init__(self, path: str):
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.db = sqlite3.connect(path)
        self.db.execute("CREATE TABLE IF NOT EXISTS fp (key TEXT PRIMARY KEY, status TEXT, s BLOB, c BLOB)")

    def get(self, keys: list[str]) -> dict[str, Fingerprint]:
        out = {}
        for start in range(0, len(keys), 500):
            chunk = keys[start:start + 500]
            rows = self.db.execute(f"SELECT key, status, s, c FROM fp WHERE key IN ({','.join('?' * len(chunk))})", chunk)
            for key, status, s, c in rows:
                out[key] = Fingerprint(status, None if s is None else np.frombuffer(s), None if c is None else np.frombuffer(c))
        return out

    def put(self, items: dict[str, Fingerprint]) -> None:
        # a timeout depends on the machine and the limit, not on the crystal: never cached
        rows = [(k, f.status, None if f.structure is None else f.structure.tobytes(), None if f.composition is None else f.composition.tobytes())
                for k, f in items.items() if f.status not in TIMED_OUT]
        with self.db:
            self.db.executemany("INSERT OR REPLACE INTO fp VALUES (?, ?, ?, ?)", rows)

    def close(self) -> None:
        self.db.close()


def default_cache() -> str:
    root = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "mateval", "fingerprints.sqlite")


def fingerprints(crystals: list[Structure], workers: int | None = None, cache: str | None = None, time_limit: float = 60.0,
                 label: str = "crystals", progress: bool = True, site_time_limit: float = SITE_TIME_LIMIT) -> list[Fingerprint]:
    """Fingerprints of `crystals` in order: cached ones read, the rest computed by `workers` processes (all cores
    when None; 1 computes in this process) and cached."""
    keys = [structure_key(c) for c in crystals]
    store, found = None, {}
    if cache:
        try:
            store = FingerprintCache(cache)
            found = store.get(sorted(set(keys)))
        except (sqlite3.Error, OSError) as e:  # a damaged or unwritable cache costs time, never the run
            print(f"[mateval] fingerprint cache {cache} not used ({type(e).__name__}: {e}); computing everything",
                  file=sys.stderr, flush=True)
            store, found = None, {}
    todo = {}  # key -> crystal, each distinct structure once
    for k, c in zip(keys, crystals):
        if k not in found:
            todo.setdefault(k, c)
    workers = max(1, workers or os.cpu_count() or 1)
    start, done, computed = time.perf_counter(), 0, {}
    cached_rows = sum(k in found for k in keys)
    last = [start]

    def report(final: bool = False) -> None:  # a line every PROGRESS_EVERY seconds and one at the end (logs stay short)
        now = time.perf_counter()
        if progress and (final or now - last[0] >= PROGRESS_EVERY):
            last[0] = now
            print(f"[mateval] fingerprints of {label}: {done}/{len(todo)} computed ({cached_rows} from the cache, "
                  f"{len(crystals) - len(todo) - cached_rows} repeats), "
                  f"{time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)

    jobs = [(c, time_limit, site_time_limit) for c in todo.values()]
    if workers == 1 or len(jobs) < 2:
        results = map(_work, jobs)
        pool = None
    else:
        import multiprocessing

        _featurizers()  # built before the fork, so each worker has them
        # fork: the workers start with matminer and pymatgen already imported (seconds each otherwise)
        context = multiprocessing.get_context("fork") if "fork" in multiprocessing.get_all_start_methods() else None
        pool = ProcessPoolExecutor(max_workers=min(workers, len(jobs)), mp_context=context)
        results = pool.map(_work, jobs, chunksize=max(1, min(16, len(jobs) // (4 * workers))))
    try:
        for key, fp in zip(todo, results):
            computed[key] = fp
            done += 1
            report()
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    if todo:
        report(final=True)
    if store:
        try:
            store.put(computed)
            store.close()
        except (sqlite3.Error, OSError) as e:
            print(f"[mateval] fingerprint cache {cache} not written ({type(e).__name__}: {e})", file=sys.stderr, flush=True)
    found.update(computed)
    return [found[k] for k in keys]
