"""MinHash signatures that keep numbers, computed without a Python loop over permutations.

datatrove's MinHash normaliser removes numbers, so two crystal records or two papers that differ
only in lattice constants or measured values look identical; here a token is a word or a whole
number (`3.84` stays `3.84`). Tokenising and hashing words is vectorised over the text's bytes
(stable across processes, unlike `hash()`), 5-word shingles are combined with numpy in uint64
arithmetic, and the permutations
are datasketch's own (`affine64` scheme: the MurmurHash3 finalizer, then a*h + b modulo 2**64 per permutation).
`signature` applies them to 256 shingles at a time, so the shingle x permutation products stay in the cache:
datasketch's `MinHash.update_batch` computes the same values over the whole shingle x permutation matrix at once,
which for a paper is hundreds of MB of temporaries and half the speed (benchmarks/filters.py; the values are
checked equal to datasketch's in tests/test_dedup.py). Signatures are therefore datasketch MinHashes, and
datasketch's LSH does the banding.
"""

from __future__ import annotations

import re

import numpy as np
from datasketch import MinHash

# a number keeps its decimals ("3.84", "Fe2.5"); elsewhere a period ends the word ("performance.2" is two tokens)
TOKEN = re.compile(r"[^\W_]*\d(?:[.,]\d+)+|[^\W_]+")
SCHEME = "affine64"
_MIX = np.uint64(0x9E3779B97F4A7C15)  # odd multiplier: position-dependent combination of word hashes
# MurmurHash3's 64-bit finalizer, datasketch's pre-mix for `affine64` (a bijection on uint64)
_FMIX = (np.uint64(33), np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53))
SIGNATURE_ROWS = 256  # shingles per block of products: 256 x 128 permutations x 8 bytes fits the L2 cache


def tokens(text: str) -> list[str]:
    """Lowercase words and whole numbers (decimals kept), punctuation dropped."""
    return TOKEN.findall(text.lower())


_WORD_BYTE = np.zeros(256, dtype=bool)
for _c in b"abcdefghijklmnopqrstuvwxyz0123456789":
    _WORD_BYTE[_c] = True
_WORD_BYTE[0x80:] = True  # UTF-8 bytes of non-ASCII letters (and symbols) belong to words
_BASE = np.uint64(0x100000001B3)  # odd, so invertible modulo 2**64
_BASE_INV = np.uint64(pow(int(_BASE), -1, 2**64))


def word_hashes(text: str) -> np.ndarray:
    """uint64 hash of every word of `text`, with no Python loop over words (see `words`)."""
    return words(text)[0]


def words(text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(hash, start byte, end byte) of every word of `text`'s lowercased UTF-8, with no Python loop over words.

    Words are runs of letters, digits and non-ASCII bytes of the lowercased UTF-8 text; a '.' or
    ',' between two digits stays inside the word, so numbers keep their decimals. A word's hash is
    the polynomial sum(byte[k] * BASE**(end-1-k)) modulo 2**64, read off one wrapping cumulative sum
    of byte[k] * BASE**-k.
    """
    data = np.frombuffer(text.lower().encode("utf-8", "surrogatepass"), dtype=np.uint8)
    n = len(data)
    if n == 0:
        empty = np.zeros(0, dtype=np.int64)
        return np.zeros(0, dtype=np.uint64), empty, empty
    word = _WORD_BYTE[data]
    is_digit = (data >= 48) & (data <= 57)
    decimal = np.zeros(n, dtype=bool)
    decimal[1:-1] = ((data[1:-1] == 46) | (data[1:-1] == 44)) & is_digit[:-2] & is_digit[2:]
    word |= decimal
    edges = np.diff(np.concatenate(([False], word, [False])).astype(np.int8))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    with np.errstate(over="ignore"):
        one = np.ones(1, dtype=np.uint64)
        powers = np.concatenate((one, np.cumprod(np.full(n - 1, _BASE, dtype=np.uint64))))  # BASE**k, wrapping
        inv = np.concatenate((one, np.cumprod(np.full(n - 1, _BASE_INV, dtype=np.uint64))))  # BASE**-k
        prefix = np.cumsum(data.astype(np.uint64) * inv)
        before = np.where(starts > 0, prefix[starts - 1], np.uint64(0))
        return (prefix[ends - 1] - before) * powers[ends - 1], starts, ends


def ngram_hashes(words: np.ndarray, n: int) -> np.ndarray:
    """Hash of every run of n consecutive word hashes, in order (empty when there are fewer than n words)."""
    if len(words) < n:
        return np.zeros(0, dtype=np.uint64)
    m = len(words) - n + 1
    h = np.zeros(m, dtype=np.uint64)
    with np.errstate(over="ignore"):  # wrap-around is the point
        for j in range(n):
            h = h * _MIX + words[j : j + m]
    return h


def shingle_hashes(text: str, size: int = 5) -> np.ndarray:
    """Distinct hashes of every run of `size` consecutive words (one shingle for shorter texts)."""
    words = word_hashes(text)
    return np.unique(ngram_hashes(words, min(size, len(words)))) if len(words) else words


class MinHasher:
    """`signature(text)` -> datasketch-compatible hash values (uint64, `num_perm` of them)."""

    def __init__(self, num_perm: int = 128, seed: int = 1, shingle_size: int = 5):
        self.num_perm, self.seed, self.shingle_size = num_perm, seed, shingle_size
        self._template = MinHash(num_perm=num_perm, seed=seed, scheme=SCHEME)

    def __getstate__(self):
        return {"num_perm": self.num_perm, "seed": self.seed, "shingle_size": self.shingle_size}

    def __setstate__(self, state):
        self.__init__(**state)

    def minhash(self, text: str) -> MinHash:
        m = MinHash(num_perm=self.num_perm, seed=self.seed, hashfunc=int, permutations=self._template.permutations, scheme=SCHEME)
        shingles = shingle_hashes(text, self.shingle_size)
        if len(shingles):
            m.update_batch(shingles.tolist())
        return m

    def signature(self, text: str) -> np.ndarray:
        """The datasketch MinHash's hash values, computed block by block (see the module's docstring)."""
        a, b = (np.asarray(p, dtype=np.uint64) for p in self._template.permutations)
        out = np.full(self.num_perm, np.iinfo(np.uint64).max, dtype=np.uint64)
        shingles = shingle_hashes(text, self.shingle_size)
        if not len(shingles):
            return out
        shift, m1, m2 = _FMIX
        with np.errstate(over="ignore"):  # wrap-around is the point
            h = shingles ^ (shingles >> shift)
            h *= m1
            h ^= h >> shift
            h *= m2
            h ^= h >> shift
            block = np.empty((min(SIGNATURE_ROWS, len(h)), self.num_perm), dtype=np.uint64)
            for lo in range(0, len(h), SIGNATURE_ROWS):
                rows = h[lo:lo + SIGNATURE_ROWS, None]
                products = block[: len(rows)]
                np.multiply(rows, a, out=products)
                products += b
                np.minimum(out, products.min(axis=0), out=out)
        return out


def jaccard(a: str, b: str, size: int = 5) -> float:
    """Exact Jaccard similarity of two texts' shingle sets (for tests and benchmarks)."""
    x, y = set(shingle_hashes(a, size).tolist()), set(shingle_hashes(b, size).tolist())
    return len(x & y) / len(x | y) if x | y else 1.0
