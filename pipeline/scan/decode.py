"""Decode stage: any archive format -> 16 kHz float32 samples, one row per channel.

ffmpeg reads every codec call-center archives hold (PCM, G.711 mu/A-law, GSM, MP3,
AAC, Opus, FLAC, AMR). Channels are kept apart because dual-channel recordings put
the agent and the customer on separate channels, and every later stage reports
which channel it heard something on.
It decodes and probes only; it writes no file (clips are cut by `clips`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import ffmpeg
import numpy as np

from pipeline.core import fileio
from pipeline.core.errors import InputError

SAMPLE_RATE = 16_000


@dataclass
class RecordingInfo:
    """What the file says about itself; goes into the report's `recording` object.

    `duration_s` is the decoded length once `decode` has run; `declared_duration_s`
    is what the container claims (ffprobe only estimates it for raw AMR or
    headerless streams, and a mismatch can be a sign of editing).
    """

    duration_s: float
    sample_rate: int
    channels: int
    codec: str
    container: str
    sha256: str
    declared_duration_s: float


@dataclass
class Audio:
    """Decoded audio: `samples` has shape (channels, n) at `sample_rate`, float32 in [-1, 1]."""

    samples: np.ndarray
    sample_rate: int
    info: RecordingInfo

    @property
    def duration_s(self) -> float:
        return self.samples.shape[1] / self.sample_rate


MIN_DURATION_S = 0.5  # shorter than one syllable pair: nothing to check
MAX_DURATION_S = 4 * 3600.0  # longer recordings are refused rather than risk the batch's memory


def probe(path: str, max_duration_s: float = MAX_DURATION_S, sha256: str | None = None) -> RecordingInfo:
    """Read codec, rate, channels and duration from the container, or raise InputError.

    Recordings declaring more than `max_duration_s` are refused. `sha256` is the
    file's hash when the caller already has it (a scan hashes every file first).
    """
    try:
        sha256 = sha256 or fileio.file_sha256(path)
        if _file_size(path) == 0:
            raise InputError("empty", "file is empty (0 bytes)")
    except OSError as exc:
        raise InputError("unreadable", f"cannot read file: {exc.strerror or exc}") from exc
    try:
        meta = ffmpeg.probe(path)
    except ffmpeg.Error as exc:
        raise InputError("not_audio", f"ffprobe cannot read it: {_last_line(exc.stderr)}") from exc
    audio_streams = [s for s in meta.get("streams", []) if s.get("codec_type") == "audio"]
    if not audio_streams:
        raise InputError("not_audio", "no audio stream in file")
    stream = audio_streams[0]
    duration = stream.get("duration") or meta.get("format", {}).get("duration") or 0.0
    if float(duration) > max_duration_s:
        raise InputError("too_long", f"declares {float(duration):.0f} s, over the limit of {max_duration_s:.0f} s "
                                     "(raise it with --max-duration)")
    return RecordingInfo(
        duration_s=round(float(duration), 3),
        declared_duration_s=round(float(duration), 3),
        sample_rate=int(stream.get("sample_rate") or 0),
        channels=int(stream.get("channels") or 1),
        codec=stream.get("codec_name", "unknown"),
        container=meta.get("format", {}).get("format_name", "unknown"),
        sha256=sha256,
    )


def decode(path: str, sample_rate: int = SAMPLE_RATE, info: RecordingInfo | None = None,
           max_duration_s: float = MAX_DURATION_S) -> Audio:
    """Decode the first audio stream, resampled to `sample_rate`, keeping channels apart.

    Raises InputError('decode_failed') when ffmpeg fails or yields no samples, and
    'too_short' under MIN_DURATION_S, so one broken file becomes an error record
    instead of stopping the batch. Decoding stops at `max_duration_s` whatever the
    header claims, which bounds memory.
    """
    info = info or probe(path, max_duration_s)
    try:
        raw, _ = (
            ffmpeg.input(path)
            .output("pipe:", format="f32le", acodec="pcm_f32le", ar=sample_rate, ac=info.channels,
                    map="0:a:0", t=max_duration_s)
            .global_args("-nostdin", "-v", "error")
            .run(capture_stdout=True, capture_stderr=True)
        )
    except ffmpeg.Error as exc:
        raise InputError("decode_failed", f"ffmpeg failed: {_last_line(exc.stderr)}") from exc
    samples = np.frombuffer(raw, dtype=np.float32)
    if samples.size < info.channels:
        raise InputError("decode_failed", "ffmpeg decoded no audio samples")
    samples = samples[: samples.size - samples.size % info.channels]
    if samples.size / info.channels / sample_rate < MIN_DURATION_S:
        raise InputError("too_short", f"only {samples.size / info.channels / sample_rate:.2f} s of audio")
    decoded = replace(info, duration_s=round(samples.size / info.channels / sample_rate, 3))
    return Audio(samples.reshape(-1, info.channels).T.copy(), sample_rate, decoded)


def _file_size(path: str) -> int:
    with open(path, "rb") as handle:
        handle.seek(0, 2)
        return handle.tell()


def _last_line(stderr: bytes | None) -> str:
    lines = (stderr or b"").decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else "unknown error"
