"""A small deterministic mutator: the bounded fuzz run of ``make test`` without atheris.

``mutations(seeds, n, seed, tokens)`` yields ``n`` inputs derived from the
seed corpus with a ``random.Random(seed)``: the same seeds and numbers give
the same inputs on every machine and Python build, so a failure in CI
replays locally.  The operations are the ones that found the faults of
issue 13 by hand: non-ASCII and very long digit runs where numbers stand,
CR/LF/NUL and separators in text, deleted, duplicated and repeated chunks,
binary length fields set to edge values, and splices of two seeds.
Coverage guidance is atheris' job (``fuzz.run``); this only has to be
cheap, varied and reproducible.
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Sequence

# Numbers that break a parser which trusts str.isdigit() or int(): superscript and Arabic-Indic digits,
# signs, underscores, more digits than int() converts (4300), and the edges of 16/31/32-bit fields.
NUMBERS: tuple[bytes, ...] = (
    b"0", b"1", b"-1", b"+1", b"1_0", b" 1", b"\xc2\xb2", "\u0663".encode(), "\uff11".encode(),
    b"255", b"256", b"65535", b"65536", b"2147483647", b"2147483648", b"4294967295", b"4294967296",
    b"99999999999", b"9" * 300, b"9" * 4301, b"", b"0x10", b"1e3", b"1.5", b"nan",
)

# Bytes that split lines, quote, escape or end strings; invalid and odd UTF-8.
TOKENS: tuple[bytes, ...] = (
    b"\x00", b"\r", b"\n", b"\r\n", b"\r\n ", b"\r\n\t", b"\t", b" ", b";", b",", b"=", b":", b"<", b">",
    b'"', b"\\", b"%", b"%00", b"%zz", b"[", b"]", b"@", b"/", b"?", b"&", b"\xff", b"\xc3", b"\xed\xa0\x80",
    b"\xf0\x9f\x98\x80", b"\xc2\xb2", b"*", b"'",
)

EDGE_INTS = (0, 1, 7, 8, 12, 20, 0x7F, 0x80, 0xFF, 0x100, 0xFFFF, 0x10000, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF)

_DIGITS = re.compile(rb"[0-9]+")
_MAX_LEN = 64 * 1024


def _digit_runs(data: bytes) -> list[tuple[int, int]]:
    return [m.span() for m in _DIGITS.finditer(data)]


class Mutator:
    def __init__(self, seeds: Sequence[bytes], rng: random.Random, tokens: Sequence[bytes] = (),
                 length_field: tuple[int, int] | None = None) -> None:
        self.seeds = [s for s in seeds] or [b""]
        self.rng = rng
        self.tokens = tuple(tokens) + TOKENS
        self.length_field = length_field

    def mutate(self, data: bytes) -> bytes:
        buf = bytearray(data)
        for _ in range(self.rng.choice((1, 1, 2, 2, 3, 4))):
            op = self.rng.choice(self._OPS)
            op(self, buf)
            if len(buf) > _MAX_LEN:
                del buf[_MAX_LEN:]
        if self.length_field is not None and self.rng.random() < 0.7:
            # A message whose header length matches gets past the framing check to the AVPs/parameters.
            at, width = self.length_field
            buf += bytes(-len(buf) % 4)  # Diameter and M3UA messages are whole 32-bit words
            if len(buf) >= at + width and len(buf) < 1 << (8 * width):
                buf[at:at + width] = len(buf).to_bytes(width, "big")
        return bytes(buf)

    # -- operations (each edits ``buf`` in place) ---------------------------------------------------------
    def _pos(self, buf: bytearray, end: bool = True) -> int:
        return self.rng.randint(0, len(buf)) if end else self.rng.randrange(len(buf))

    def flip_bit(self, buf: bytearray) -> None:
        if buf:
            buf[self._pos(buf, False)] ^= 1 << self.rng.randrange(8)

    def set_byte(self, buf: bytearray) -> None:
        if buf:
            buf[self._pos(buf, False)] = self.rng.choice((0, 0xFF, 0x7F, 0x80, 0x0D, 0x0A, 0x20, 0x01, 0x40))

    def delete(self, buf: bytearray) -> None:
        if buf:
            start = self._pos(buf, False)
            del buf[start:start + self.rng.randint(1, max(1, min(64, len(buf) // 4 + 1)))]

    def duplicate(self, buf: bytearray) -> None:
        if buf:
            start = self._pos(buf, False)
            chunk = bytes(buf[start:start + self.rng.randint(1, 64)])
            at = self._pos(buf)
            buf[at:at] = chunk

    def repeat(self, buf: bytearray) -> None:
        # Many copies of one chunk: nesting, header counts, list lengths, linear-cost checks.
        if buf:
            start = self._pos(buf, False)
            chunk = bytes(buf[start:start + self.rng.randint(1, 16)])
            buf[start:start] = chunk * self.rng.choice((8, 64, 512))

    def insert_token(self, buf: bytearray) -> None:
        at = self._pos(buf)
        buf[at:at] = self.rng.choice(self.tokens)

    def replace_token(self, buf: bytearray) -> None:
        if buf:
            start = self._pos(buf, False)
            buf[start:start + self.rng.randint(1, 4)] = self.rng.choice(self.tokens)

    def replace_number(self, buf: bytearray) -> None:
        runs = _digit_runs(bytes(buf))
        if runs:
            start, end = self.rng.choice(runs)
            buf[start:end] = self.rng.choice(NUMBERS)
        else:
            self.insert_token(buf)

    def set_int(self, buf: bytearray) -> None:
        # A binary length, count or code field set to an edge value (big-endian, as on the wire).
        width = self.rng.choice((1, 2, 3, 4))
        if len(buf) >= width:
            at = self.rng.randrange(len(buf) - width + 1)
            value = self.rng.choice(EDGE_INTS) & ((1 << (8 * width)) - 1)
            if self.rng.random() < 0.3:
                value = (int.from_bytes(buf[at:at + width], "big") + self.rng.choice((-4, -1, 1, 4))) \
                    % (1 << (8 * width))
            buf[at:at + width] = value.to_bytes(width, "big")

    def splice(self, buf: bytearray) -> None:
        other = self.rng.choice(self.seeds)
        if buf and other:
            cut = self._pos(buf)
            buf[cut:] = other[self.rng.randrange(len(other)):]

    def swap_line(self, buf: bytearray) -> None:
        # A line of another seed in place of one of ours (a header, an SDP line, a TOML key).
        other = self.rng.choice(self.seeds).split(b"\n")
        lines = bytes(buf).split(b"\n")
        if len(lines) > 1 and other:
            lines[self.rng.randrange(len(lines))] = self.rng.choice(other)
            buf[:] = b"\n".join(lines)

    def truncate(self, buf: bytearray) -> None:
        if buf:
            del buf[self._pos(buf):]

    _OPS = (flip_bit, set_byte, delete, duplicate, repeat, insert_token, insert_token, replace_token,
            replace_number, replace_number, replace_number, set_int, set_int, splice, swap_line, truncate)


def mutations(seeds: Sequence[bytes], n: int, seed: int, tokens: Sequence[bytes] = (),
              length_field: tuple[int, int] | None = None) -> Iterator[bytes]:
    """``n`` mutated inputs, deterministic for (seeds, n, seed, tokens, length_field).

    ``length_field`` (offset, width) is a big-endian message length in the header (Diameter: 1, 3;
    M3UA: 4, 4) that is set to the mutated input's length most of the time."""
    rng = random.Random(seed)
    m = Mutator(seeds, rng, tokens, length_field)
    base = list(seeds) or [b""]
    for _ in range(n):
        yield m.mutate(rng.choice(base))
