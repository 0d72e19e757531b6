"""Tone, WAV and silence sources producing G.711 frames."""

from __future__ import annotations

import math
import struct
import wave
from pathlib import Path

import pytest

from ims.media.g711 import alaw_decode, ulaw_decode
from ims.media.source import SilenceSource, ToneSource, WavSource, make_source


def samples(data: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(data) // 2}h", data))


def zero_crossings(values: list[int]) -> int:
    return sum(1 for a, b in zip(values, values[1:]) if (a < 0) != (b < 0))


def write_wav(path: Path, values: list[int], *, rate: int = 8000, channels: int = 1, width: int = 2) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        if width == 2:
            wav.writeframes(struct.pack(f"<{len(values)}h", *values))
        else:
            wav.writeframes(bytes(v & 0xFF for v in values))
    return path


@pytest.mark.parametrize("frequency", [440.0, 1000.0, 697.5])
def test_tone_frequency_by_zero_crossings(frequency: float) -> None:
    source = ToneSource(frequency)
    assert source.samples_per_frame == 160
    frames = [source.frame() for _ in range(50)]                 # one second
    assert all(len(f) == 160 for f in frames)
    pcm = samples(ulaw_decode(b"".join(frames)))
    assert abs(zero_crossings(pcm) - 2 * frequency) <= 2


def test_tone_is_phase_continuous_across_frames() -> None:
    for frequency in (440.0, 697.5):                # cached cycle and computed path
        source = ToneSource(frequency, encoding="PCMA", amplitude=0.5)
        pcm = samples(alaw_decode(b"".join(source.frame() for _ in range(60))))
        expected = [0.5 * 32767 * math.sin(2 * math.pi * frequency * n / 8000) for n in range(len(pcm))]
        assert max(abs(a - b) for a, b in zip(pcm, expected)) < 0.04 * 32767


def test_tone_amplitude_and_ptime() -> None:
    source = ToneSource(1000, ptime=30, amplitude=0.3)
    assert source.samples_per_frame == 240 and len(source.frame()) == 240
    peak = max(abs(v) for v in samples(ulaw_decode(source.frame())))
    assert 0.27 * 32767 < peak < 0.33 * 32767


def test_tone_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError, match="encoding"):
        ToneSource(encoding="G729")
    with pytest.raises(ValueError, match="Nyquist"):
        ToneSource(5000)
    with pytest.raises(ValueError, match="amplitude"):
        ToneSource(amplitude=2)


def test_silence_is_the_encoded_zero() -> None:
    assert SilenceSource(encoding="PCMU").frame() == b"\xff" * 160
    assert SilenceSource(encoding="pcma").frame() == b"\xd5" * 160


def test_wav_8khz_is_encoded_frame_by_frame_and_loops(tmp_path: Path) -> None:
    ramp = [(i * 97) % 20000 - 10000 for i in range(400)]        # 2.5 frames
    source = WavSource(write_wav(tmp_path / "ramp.wav", ramp))
    frames = [source.frame() for _ in range(4)]
    decoded = samples(ulaw_decode(b"".join(frames[:3])))
    assert all(abs(a - b) <= 300 for a, b in zip(decoded[:400], ramp))
    assert frames[2][80:] == b"\xff" * 80                         # last frame padded with silence
    assert frames[3] == frames[0] and not source.finished         # looped
    assert source.duration == pytest.approx(0.06)


def test_wav_without_loop_finishes_with_silence(tmp_path: Path) -> None:
    source = WavSource(write_wav(tmp_path / "short.wav", [1000] * 320), encoding="PCMA", loop=False)
    assert source.frame() != b"\xd5" * 160
    source.frame()
    assert source.finished
    assert source.frame() == b"\xd5" * 160


def test_wav_16khz_is_decimated_to_8khz(tmp_path: Path) -> None:
    tone = [int(8000 * math.sin(2 * math.pi * 500 * n / 16000)) for n in range(16000)]
    source = WavSource(write_wav(tmp_path / "wb.wav", tone, rate=16000))
    pcm = samples(ulaw_decode(b"".join(source.frame() for _ in range(50))))
    assert len(pcm) == 8000
    assert abs(zero_crossings(pcm) - 1000) <= 2


def test_wav_other_rates_are_interpolated(tmp_path: Path) -> None:
    tone = [int(8000 * math.sin(2 * math.pi * 300 * n / 11025)) for n in range(11025)]
    source = WavSource(write_wav(tmp_path / "cd.wav", tone, rate=11025))
    assert source.duration == pytest.approx(1.0)
    pcm = samples(ulaw_decode(b"".join(source.frame() for _ in range(50))))
    assert abs(zero_crossings(pcm) - 600) <= 2


def test_wav_unsupported_formats_are_named(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="2 channel"):
        WavSource(write_wav(tmp_path / "stereo.wav", [0] * 320, channels=2))
    with pytest.raises(ValueError, match="8-bit"):
        WavSource(write_wav(tmp_path / "u8.wav", [0] * 320, width=1))
    (tmp_path / "junk.wav").write_bytes(b"not a wav file at all")
    with pytest.raises(ValueError, match="not a PCM WAV"):
        WavSource(tmp_path / "junk.wav")
    with pytest.raises(ValueError, match="no audio"):
        WavSource(write_wav(tmp_path / "empty.wav", []))


def test_make_source_specs(tmp_path: Path) -> None:
    tone = make_source("tone:1000", "PCMA")
    assert isinstance(tone, ToneSource) and tone.frequency == 1000 and tone.encoding == "PCMA"
    assert isinstance(make_source("tone", "PCMU"), ToneSource)
    wav = make_source(f"wav:{write_wav(tmp_path / 'a.wav', [0] * 160)}", "PCMU")
    assert isinstance(wav, WavSource) and wav.frame() == b"\xff" * 160
    assert make_source("silence", "PCMU").frame() == b"\xff" * 160
    for bad in ("tone:loud", "wav:", "noise"):
        with pytest.raises(ValueError, match="media source"):
            make_source(bad, "PCMU")
