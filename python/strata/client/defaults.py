"""Values the client generates at create time: Prisma's ``@default(cuid())``, ``uuid()``,
``nanoid()``, ``ulid()`` and ``now()``, and ``@updatedAt``.

The database never sees these functions (Prisma's DDL has no default for them), so every
writer must produce them the way Prisma Client does, in the same formats, or ids written by
Python and by a Node app sharing the database would differ in shape. ``now()`` has a
database default (CURRENT_TIMESTAMP) too, but the client sets it so that the returned record
has the value and it is written in the configured DateTime format.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import secrets
import socket
import threading
import time
import uuid as _uuid
from collections.abc import Callable
from datetime import datetime

from strata._compat import UTC
from strata.schema import ir

__all__ = ["cuid", "cuid2", "generator_for", "nanoid", "ulid", "uuid4", "uuid7"]

_BASE36 = "0123456789abcdefghijklmnopqrstuvwxyz"
_URL_ALPHABET = "useandom-26T198340PX75pxJACKVERYMINDBUSHWOLF_GQZbfghjklqvwyzrict"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _base36(number: int) -> str:
    digits = []
    while True:
        number, digit = divmod(number, 36)
        digits.append(_BASE36[digit])
        if not number:
            return "".join(reversed(digits))


def _pad(text: str, size: int) -> str:
    """The last ``size`` characters, zero-padded: cuid's ``pad``."""
    return ("0" * size + text)[-size:]


# -- cuid v1 (the npm "cuid" package Prisma uses for cuid()) ---------------------------------
# c + timestamp (base36 ms) + counter (4) + fingerprint (4) + random (8): 25 characters
# until the timestamp grows a ninth base-36 digit in 2059.

_CUID_BLOCK = 36**4
_cuid_lock = threading.Lock()
_cuid_counter = secrets.randbelow(_CUID_BLOCK)


def _cuid_fingerprint() -> str:
    host = socket.gethostname()
    host_id = sum(map(ord, host)) + len(host) + 36
    return _pad(_base36(os.getpid()), 2) + _pad(_base36(host_id), 2)


_CUID_FINGERPRINT = _cuid_fingerprint()


def cuid() -> str:
    global _cuid_counter
    with _cuid_lock:
        count = _cuid_counter
        _cuid_counter = (_cuid_counter + 1) % _CUID_BLOCK
    random_blocks = _pad(_base36(secrets.randbelow(_CUID_BLOCK)), 4) + _pad(
        _base36(secrets.randbelow(_CUID_BLOCK)), 4
    )
    return (
        "c"
        + _base36(time.time_ns() // 1_000_000)
        + _pad(_base36(count), 4)
        + _CUID_FINGERPRINT
        + random_blocks
    )


# -- cuid2 (@paralleldrive/cuid2, Prisma's cuid(2)) -----------------------------------------
# A random lowercase letter, then a SHA3-512 hash of time, salt, a counter and a host
# fingerprint, in base 36: 24 characters by default.

_cuid2_counter = itertools.count(secrets.randbelow(476782367))
_CUID2_FINGERPRINT = hashlib.sha3_512(
    f"{socket.gethostname()}{os.getpid()}{secrets.token_hex(16)}".encode()
).hexdigest()


def cuid2(length: int = 24) -> str:
    first = _BASE36[10 + secrets.randbelow(26)]
    entropy = f"{time.time_ns() // 1_000_000:x}{secrets.token_hex(length)}"
    digest = hashlib.sha3_512(
        f"{entropy}{_base36(next(_cuid2_counter))}{_CUID2_FINGERPRINT}".encode()
    ).digest()
    return first + _base36(int.from_bytes(digest, "big"))[1:length]


# -- uuid ------------------------------------------------------------------------------------


def uuid4() -> str:
    return str(_uuid.uuid4())


def uuid7() -> str:
    """RFC 9562 version 7: 48 bits of Unix milliseconds, then random bits."""
    millis = time.time_ns() // 1_000_000
    value = (millis & (2**48 - 1)) << 80 | secrets.randbits(80)
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return str(_uuid.UUID(int=value))


# -- nanoid and ulid -------------------------------------------------------------------------


def nanoid(size: int = 21) -> str:
    """nanoid's URL-safe alphabet (64 symbols, so each is one uniform 6-bit draw)."""
    return "".join(_URL_ALPHABET[b & 63] for b in secrets.token_bytes(size))


def ulid() -> str:
    """48 bits of Unix milliseconds and 80 random bits, in Crockford base 32: 26 characters."""
    value = (time.time_ns() // 1_000_000) << 80 | secrets.randbits(80)
    return "".join(_CROCKFORD[(value >> shift) & 31] for shift in range(125, -5, -5))


def now() -> datetime:
    # Millisecond precision, like JavaScript's Date: what is returned equals what is read.
    current = datetime.now(UTC)
    return current.replace(microsecond=current.microsecond // 1000 * 1000)


def generator_for(default: ir.DefaultValue) -> Callable[[], object] | None:
    """The function that produces a default on the client, or None when the database does
    (a literal, autoincrement, dbgenerated)."""
    arguments = default.arguments
    if default.kind == "cuid":
        return cuid2 if arguments and arguments[0] == 2 else cuid
    if default.kind == "uuid":
        return uuid7 if arguments and arguments[0] == 7 else uuid4
    if default.kind == "nanoid":
        size = arguments[0] if arguments and isinstance(arguments[0], int) else 21
        return lambda: nanoid(size)
    if default.kind == "ulid":
        return ulid
    if default.kind == "now":
        return now
    return None
