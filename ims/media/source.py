"""Audio sources for the lab's RTP senders: tone, WAV file, silence, G.711-encoded.

A source hands out one encoded payload per :meth:`frame` call
(``samples_per_frame`` samples, 160 for 20 ms at 8 kHz); the caller paces
the calls and numbers the packets with :class:`ims.media.rtp.RtpSender`.
Sources never read a clock.

Not a DSP library: the WAV reader resamples naively (see :class:`WavSource`)
because the lab needs recognisable audio in a capture, not fidelity.
"""

from __future__ import annotations

import math
import os
import sys
import wave
from array import array
from collections.abc import Callable
from typing import Protocol

from ims.media.g711 import alaw_encode, ulaw_encode

__all__ = ["SilenceSource", "Source", "ToneSource", "WavSource", "make_source"]

_ENCODERS = {"PCMU": ulaw_encode, "PCMA": alaw_encode}
_SILENCE = {"PCMU": 0xFF, "PCMA": 0xD5}
_G711_RATE = 8000
_BIG_ENDIAN = sys.byteorder == "big"
_MAX_CACHED_FRAMES = 400          # a periodic tone's frames are cached up to 8 s of 20 ms


class Source(Protocol):
    """What an RTP sender needs from a media source."""

    samples_per_frame: int

    def frame(self) -> bytes: ...


def _to_le(samples: array[int]) -> bytes:
    if _BIG_ENDIAN:  # pragma: no cover - the lab runs on little-endian hosts
        samples.byteswap()
    return samples.tobytes()


def _encoder(encoding: str) -> tuple[str, Callable[[bytes], bytes]]:
    name = encoding.upper()
    if name not in _ENCODERS:
        raise ValueError(f"unsupported encoding {encoding!r}; expected PCMU or PCMA")
    return name, _ENCODERS[name]


def _frame_samples(sample_rate: int, ptime: int) -> int:
    samples = sample_rate * ptime // 1000
    if samples <= 0 or sample_rate * ptime % 1000:
        raise ValueError(f"ptime {ptime} ms is not a whole number of samples at {sample_rate} Hz")
    return samples


class ToneSource:
    """A continuous sine tone, G.711-encoded, phase-continuous across frames.

    When the tone repeats after a whole number of frames within
    ``_MAX_CACHED_FRAMES`` (any integer frequency at 8 kHz/20 ms does within
    400 frames), the encoded frames are computed once and replayed.
    """

    def __init__(self, frequency: float = 440.0, *, encoding: str = "PCMU", sample_rate: int = 8000,
                 ptime: int = 20, amplitude: float = 0.3) -> None:
        if not 0.0 <= amplitude <= 1.0:
            raise ValueError(f"amplitude {amplitude} outside 0..1")
        if not 0.0 <= frequency < sample_rate / 2:
            raise ValueError(f"frequency {frequency} Hz outside 0..{sample_rate / 2} (Nyquist)")
        self.encoding, self._encode = _encoder(encoding)
        self.frequency = frequency
        self.sample_rate = sample_rate
        self.ptime = ptime
        self.amplitude = amplitude
        self.samples_per_frame = _frame_samples(sample_rate, ptime)
        self._step = frequency / sample_rate     # cycles per sample
        self._phase = 0.0                         # in cycles, 0..1
        self._cycle: list[bytes] = []
        self._index = 0
        if frequency == int(frequency):
            # Frames repeat once frames * samples * f / rate is a whole number.
            period = sample_rate // math.gcd(int(frequency), sample_rate)   # samples per repeat
            frames = period // math.gcd(period, self.samples_per_frame)
            if frames <= _MAX_CACHED_FRAMES:
                self._cycle = [self._synthesize(i * self.samples_per_frame) for i in range(frames)]

    def _synthesize(self, start: int) -> bytes:
        scale = self.amplitude * 32767.0
        two_pi_step = 2.0 * math.pi * self._step
        samples = array("h", (int(round(scale * math.sin(two_pi_step * (start + n))))
                              for n in range(self.samples_per_frame)))
        return self._encode(_to_le(samples))

    def frame(self) -> bytes:
        """The next encoded frame."""
        if self._cycle:
            payload = self._cycle[self._index]
            self._index = (self._index + 1) % len(self._cycle)
            return payload
        scale = self.amplitude * 32767.0
        step, phase = self._step, self._phase
        samples = array("h", (int(round(scale * math.sin(2.0 * math.pi * (phase + step * n))))
                              for n in range(self.samples_per_frame)))
        self._phase = (phase + step * self.samples_per_frame) % 1.0
        return self._encode(_to_le(samples))


class SilenceSource:
    """G.711 digital silence (the encoded zero sample)."""

    def __init__(self, *, encoding: str = "PCMU", ptime: int = 20) -> None:
        self.encoding, _ = _encoder(encoding)
        self.samples_per_frame = _frame_samples(_G711_RATE, ptime)
        self._payload = bytes((_SILENCE[self.encoding],)) * self.samples_per_frame

    def frame(self) -> bytes:
        return self._payload


def _resample(samples: array[int], rate: int) -> array[int]:
    """Naive resampling to 8 kHz: pairwise average for 16 kHz, linear interpolation otherwise."""
    if rate == _G711_RATE:
        return samples
    if rate == 2 * _G711_RATE:
        return array("h", ((a + b) >> 1 for a, b in zip(samples[0::2], samples[1::2])))
    count = len(samples) * _G711_RATE // rate
    out = array("h", bytes(2 * count))
    ratio = rate / _G711_RATE
    last = len(samples) - 1
    for i in range(count):
        pos = i * ratio
        j = int(pos)
        frac = pos - j
        nxt = samples[j + 1] if j < last else samples[j]
        out[i] = int(round(samples[j] + (nxt - samples[j]) * frac))
    return out


class WavSource:
    """A 16-bit mono PCM WAV file, G.711-encoded, looped or played once.

    8 kHz files are used as they are; 16 kHz files are decimated by pairwise
    averaging and other rates linearly interpolated to 8 kHz (no anti-alias
    filter: naive, on purpose).  The whole file is encoded once when opened.
    After the end, without ``loop``, :meth:`frame` returns silence and
    ``finished`` is True.
    """

    def __init__(self, path: str | os.PathLike[str], *, encoding: str = "PCMU", ptime: int = 20,
                 loop: bool = True) -> None:
        self.encoding, encode = _encoder(encoding)
        self.path = os.fspath(path)
        self.loop = loop
        self.samples_per_frame = _frame_samples(_G711_RATE, ptime)
        try:
            with wave.open(self.path, "rb") as wav:
                channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
                if channels != 1 or width != 2:
                    raise ValueError(f"{self.path}: {channels} channel(s) of {8 * width}-bit samples; "
                                     "only 16-bit mono PCM WAV is supported")
                raw = wav.readframes(wav.getnframes())
        except wave.Error as exc:
            raise ValueError(f"{self.path}: not a PCM WAV file ({exc})") from None
        samples = array("h")
        samples.frombytes(raw[:len(raw) & ~1])
        if _BIG_ENDIAN:  # pragma: no cover - WAV is little-endian
            samples.byteswap()
        samples = _resample(samples, rate)
        if not samples:
            raise ValueError(f"{self.path}: no audio samples")
        encoded = encode(_to_le(samples))
        short = -len(encoded) % self.samples_per_frame
        self._data: bytes = encoded + bytes((_SILENCE[self.encoding],)) * short
        self._pos = 0
        self.finished = False
        self._silence = bytes((_SILENCE[self.encoding],)) * self.samples_per_frame

    @property
    def duration(self) -> float:
        """Seconds of audio, padded to whole frames."""
        return len(self._data) / _G711_RATE

    def frame(self) -> bytes:
        """The next encoded frame (silence once a non-looping file has ended)."""
        if self.finished:
            return self._silence
        end = self._pos + self.samples_per_frame
        payload = self._data[self._pos:end]
        if end >= len(self._data):
            end = 0
            self.finished = not self.loop
        self._pos = end
        return payload


def make_source(spec: str, encoding: str) -> ToneSource | WavSource | SilenceSource:
    """A source from a topology spec: ``tone``, ``tone:<Hz>``, ``wav:<path>`` or ``silence``."""
    kind, _, arg = spec.partition(":")
    kind = kind.strip().lower()
    if kind == "tone":
        try:
            frequency = float(arg) if arg else 440.0
        except ValueError:
            raise ValueError(f"media source {spec!r}: tone frequency {arg!r} is not a number") from None
        return ToneSource(frequency, encoding=encoding)
    if kind == "wav":
        if not arg:
            raise ValueError(f"media source {spec!r}: wav needs a path, as in wav:/path/file.wav")
        return WavSource(arg, encoding=encoding)
    if kind == "silence":
        return SilenceSource(encoding=encoding)
    raise ValueError(f"media source {spec!r}: expected tone[:Hz], wav:<path> or silence")
