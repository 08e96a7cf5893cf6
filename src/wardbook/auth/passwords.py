"""Passwords: argon2id hashing and the NIST SP 800-63B-4 rules for memorized secrets.

Rules (800-63B section 3.1.1.2): at least 12 characters (Unicode code points after NFKC
normalization), at most 256; checked against a list of commonly used and breached
passwords shipped with the code (``data/common_passwords.txt.gz``: the 30,000 most common
passwords of public breach corpora, from zxcvbn 4.5.0, MIT); no composition rules (no
"one digit and one symbol"); and no context words (the user name, "wardbook").

Hashing: argon2id (RFC 9106) with OWASP's minimum parameters (19 MiB, 2 passes, 1 lane),
which keeps a sign-in near 20 ms on a small server; the parameters are inside each hash, so
raising them later re-hashes on the next successful sign-in (:func:`needs_rehash`).
"""

from __future__ import annotations

import functools
import gzip
import itertools
import re
import unicodedata
from importlib import resources

from argon2 import PasswordHasher, Type
from argon2.exceptions import InvalidHashError, VerificationError

MIN_LENGTH = 12
MAX_LENGTH = 256
_CONTEXT_WORDS = ("wardbook",)
_TRAILING_NOISE = re.compile(r"[\d\W_]+$")
_LEADING_NOISE = re.compile(r"^[\d\W_]+")

_HASHER = PasswordHasher(time_cost=2, memory_cost=19 * 1024, parallelism=1, type=Type.ID)
# A valid hash of a random password: verifying against it makes an unknown user name cost
# the same time as a known one (no user enumeration by timing).
_DUMMY_HASH = _HASHER.hash("wardbook-dummy-password-for-timing")


def normalize(password: str) -> str:
    """NFKC, as 800-63B asks before hashing, so the same password typed differently matches."""
    return unicodedata.normalize("NFKC", password)


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common and breached passwords (lower case)."""
    data = resources.files("wardbook.auth").joinpath("data/common_passwords.txt.gz").read_bytes()
    return frozenset(gzip.decompress(data).decode("utf-8").split())


def _is_sequence(text: str) -> bool:
    """abcdefghijkl, 123456789012, aaaaaaaaaaaa: one repeated step between characters."""
    steps = {ord(b) - ord(a) for a, b in itertools.pairwise(text)}
    return len(steps) == 1 and next(iter(steps)) in (-1, 0, 1)


def password_problems(password: str, *, username: str = "") -> list[str]:
    """Why ``password`` may not be used (empty when it is acceptable)."""
    text = normalize(password)
    problems: list[str] = []
    if len(text) < MIN_LENGTH:
        problems.append(f"Password must be at least {MIN_LENGTH} characters long")
    if len(text) > MAX_LENGTH:
        problems.append(f"Password must be at most {MAX_LENGTH} characters long")
    if problems:
        return problems
    lowered = text.casefold()
    core = _LEADING_NOISE.sub("", _TRAILING_NOISE.sub("", lowered))
    common = common_passwords()
    if lowered in common or lowered.replace(" ", "") in common or (core and core in common):
        problems.append("Password is too common: it appears in lists of breached passwords")
    elif _is_sequence(lowered) or len(set(lowered)) <= 2:
        problems.append("Password is too easy to guess: avoid repeated or sequential characters")
    context = [w for w in (*_CONTEXT_WORDS, username.casefold()) if len(w) >= 3]
    if any(word in lowered for word in context):
        problems.append("Password must not contain your user name or the service name")
    return problems


def hash_password(password: str) -> str:
    """An argon2id PHC string (``$argon2id$v=19$m=...``) with a fresh random salt."""
    return _HASHER.hash(normalize(password))


def verify_password(password_hash: str | None, password: str) -> bool:
    """True when ``password`` matches; takes the same time when there is no hash."""
    try:
        if password_hash is None:
            _HASHER.verify(_DUMMY_HASH, "x")
            return False
        return _HASHER.verify(password_hash, normalize(password))
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    """True when the hash was made with weaker parameters than today's."""
    return _HASHER.check_needs_rehash(password_hash)
