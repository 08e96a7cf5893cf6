"""TOTP second factor (RFC 6238), enrolment QR codes and single-use recovery codes.

Codes are 6 digits over 30-second steps; one step of clock drift either way is accepted
and a step once used is refused (``last_step``), so a code seen over a shoulder cannot be
replayed. Recovery codes are 10 random 50-bit codes, stored as SHA-256 digests (they are
random, not chosen, so a fast hash is enough) and each usable once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time

import pyotp
import segno

ISSUER = "Wardbook"
RECOVERY_CODE_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i


def new_secret() -> str:
    """A fresh 160-bit base32 TOTP secret."""
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, username: str) -> str:
    """The ``otpauth://totp/Wardbook:alice?secret=...&issuer=Wardbook`` enrolment URI."""
    return pyotp.TOTP(secret).provisioning_uri(name=username, issuer_name=ISSUER)


def qr_svg(uri: str) -> str:
    """The enrolment URI as an inline SVG QR code (no script, no external image)."""
    svg: str = segno.make(uri, error="m").svg_inline(scale=4, dark="#0b0c0c", light="#ffffff")
    return svg


def verify_totp(secret: str, code: str, *, last_step: int, now: float | None = None) -> int | None:
    """The time step ``code`` belongs to when valid and not yet used, else None."""
    digits = "".join(code.split())
    if len(digits) != 6 or not digits.isdigit():
        return None
    totp = pyotp.TOTP(secret)
    moment = time.time() if now is None else now
    step_now = int(moment) // totp.interval
    for step in (step_now, step_now - 1, step_now + 1):
        if step <= last_step:
            continue
        if hmac.compare_digest(totp.at(step * totp.interval), digits):
            return step
    return None


def current_code(secret: str, *, now: float | None = None) -> str:
    """The code an authenticator app shows now (tests and the demo account)."""
    return pyotp.TOTP(secret).at(time.time() if now is None else now)


def new_recovery_codes() -> list[str]:
    """Ten human-typable codes like ``kq7m-x3pa-z9tw``."""
    codes = []
    for _ in range(RECOVERY_CODE_COUNT):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(12))
        codes.append(f"{raw[:4]}-{raw[4:8]}-{raw[8:]}")
    return codes


def recovery_digest(code: str) -> str:
    """How a recovery code is stored: SHA-256 of its normalized text."""
    normal = "".join(ch for ch in code.lower() if ch.isalnum())
    return hashlib.sha256(normal.encode()).hexdigest()


def match_recovery_code(digests: list[str], code: str) -> str | None:
    """The stored digest ``code`` matches (to be removed), or None."""
    candidate = recovery_digest(code)
    for digest in digests:
        if hmac.compare_digest(digest, candidate):
            return digest
    return None
