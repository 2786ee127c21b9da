"""API key format: generation, parsing and hashing of `cf_<prefix>_<secret>` keys.

A key is ``cf_`` + 8 characters of public prefix + ``_`` + 32 characters of secret,
both from a URL-safe alphabet drawn with ``secrets``. The prefix finds the row; the
whole key is stored only as its SHA-256. A slow password hash (bcrypt, argon2) buys
nothing here: it protects low-entropy secrets against guessing, and a key with 192
random bits cannot be guessed however fast the hash; a fast hash keeps verification of
a key not yet cached in memory to microseconds.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import string

__all__ = ["KEY_PATTERN", "generate_key", "hash_key", "key_prefix"]

_ALPHABET = string.ascii_letters + string.digits
_PREFIX_LEN = 8
_SECRET_LEN = 32
KEY_PATTERN = re.compile(r"^cf_([A-Za-z0-9]{8})_([A-Za-z0-9]{32})$")


def generate_key() -> tuple[str, str, str]:
    """A new key as ``(key, prefix, hash)``; the key itself is shown once and never stored."""
    prefix = "".join(secrets.choice(_ALPHABET) for _ in range(_PREFIX_LEN))
    secret = "".join(secrets.choice(_ALPHABET) for _ in range(_SECRET_LEN))
    key = f"cf_{prefix}_{secret}"
    return key, prefix, hash_key(key)


def key_prefix(token: str) -> str | None:
    """The public prefix of a well-formed key, or None when ``token`` is not one."""
    match = KEY_PATTERN.match(token)
    return match.group(1) if match else None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()
