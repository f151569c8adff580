"""Clips: cut the evidence for each located statement and each suspected splice.

For every annotation a clip of [start - padding, end + padding] (clamped to the
recording) is cut from the original recording into `DIR/clips/<call_id>/`, named
after the statement's label and time range, e.g. `风险告知_00-01-15.20_00-01-20.05.wav`;
for every splice, [time - context, time + context], named `疑似拼接_00-00-12.30.wav`.
The clip's path relative to DIR is stored in the annotation/splice as `clip`.

Modes: `wav` (16-bit PCM WAV at the recording's rate and channels), `source` (the
recording's own codec and container: stream copy where that cuts within 0.06 s
of the range, else re-encoding to the same codec (always for PCM, which is
lossless); WAV when ffmpeg has no encoder for it, e.g. AMR on Debian's ffmpeg), `none`. Every clip is written to a temporary name and renamed into place.
It cuts what the record names; it never decides what is evidence (the checks do).
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
from dataclasses import dataclass
from pathlib import Path

import ffmpeg

from pipeline.core.errors import InputError

MODES = ("none", "wav", "source")
SPLICE_LABEL = "疑似拼接"
COPY_TOLERANCE_S = 0.06  # a stream copy cut further than this from the asked range is re-encoded
TMP_MARK = ".tmp"
END_SLACK_S = 0.25

# codec_name (ffprobe) -> encoder, for `source` clips that cannot be stream-copied.
ENCODERS = {
    "mp3": "libmp3lame", "aac": "aac", "opus": "libopus", "vorbis": "libvorbis", "flac": "flac",
    "amr_nb": "libopencore_amrnb", "amr_wb": "libvo_amrwbenc", "gsm": "libgsm", "gsm_ms": "libgsm_ms",
    "wmav1": "wmav1", "wmav2": "wmav2", "alac": "alac", "adpcm_ima_wav": "adpcm_ima_wav",
    "adpcm_ms": "adpcm_ms", "g722": "g722", "g726": "g726", "speex": "libspeex",
}
_UNSAFE = re.compile(r'[\x00-\x1f\x7f<>:"/\\|?*\s]+')
_RESERVED = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)$", re.IGNORECASE)


@dataclass(frozen=True)
class ClipOptions:
    mode: str = "wav"
    padding_s: float = 0.5
    splice_context_s: float = 2.0

    def key(self) -> str:
        """Identifies the clip settings (clips are re-cut when they change)."""
        return "none" if self.mode == "none" else f"{self.mode}:{self.padding_s:g}:{self.splice_context_s:g}"


def stamp(seconds: float) -> str:
    """00-01-15.20: a time for file names (no ':' which Windows and macOS refuse)."""
    cs = max(0, int(round(seconds * 100)))
    h, rest = divmod(cs, 360_000)
    m, rest = divmod(rest, 6_000)
    s, c = divmod(rest, 100)
    return f"{h:02d}-{m:02d}-{s:02d}.{c:02d}"


def safe_name(text: str, limit: int = 48) -> str:
    """A file-name part valid on Windows, macOS and Linux file systems (Chinese kept)."""
    name = _UNSAFE.sub("_", text or "").strip(" ._")[:limit].strip(" ._")
    if not name or _RESERVED.match(name):
        name = f"_{name}"
    return name


def clip_names(record: dict, ext: str) -> tuple[list[str], list[str]]:
    """Unique file names for the record's annotations and splices, in order."""
    used: set[str] = set()

    def unique(stem: str) -> str:
        name, n = f"{stem}{ext}", 2
        while name.lower() in used:
            name, n = f"{stem}_{n}{ext}", n + 1
        used.add(name.lower())
        return name

    notes = [unique(f"{safe_name(a.get('label') or a.get('rule') or 'statement')}_"
                    f"{stamp(a['start'])}_{stamp(a['end'])}") for a in record.get("annotations", [])]
    splices = [unique(f"{SPLICE_LABEL}_{stamp(s['time'])}") for s in record.get("splices", [])]
    return notes, splices


def cut_clips(record: dict, source_path: str, out_dir: Path, options: ClipOptions) -> list[str]:
    """Cut every clip of an ok record and set `clip` (relative to out_dir) on its items.

    Clips of this call left over from earlier settings are removed. A clip ffmpeg
    cannot cut (the recording vanished, ...) gets `clip_error` instead of `clip`;
    the messages are returned (empty when every clip was cut).
    """
    failures: list[str] = []
    for item in record.get("annotations", []) + record.get("splices", []):
        item.pop("clip_error", None)
    folder = Path(out_dir) / "clips" / record["call_id"]
    if options.mode == "none" or record.get("status") != "ok" or not record.get("recording"):
        for item in record.get("annotations", []) + record.get("splices", []):
            item.pop("clip", None)
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        return failures
    info = record["recording"]
    duration = float(info.get("duration_s") or 0.0)
    ext = ".wav" if options.mode == "wav" else (Path(source_path).suffix.lower() or ".wav")
    note_names, splice_names = clip_names(record, ext)
    jobs = []
    for ann, name in zip(record.get("annotations", []), note_names):
        jobs.append((ann, name, ann["start"] - options.padding_s, ann["end"] + options.padding_s))
    for spl, name in zip(record.get("splices", []), splice_names):
        jobs.append((spl, name, spl["time"] - options.splice_context_s, spl["time"] + options.splice_context_s))
    folder.mkdir(parents=True, exist_ok=True)
    written = set()
    for item, name, start, end in jobs:
        start = max(0.0, start)
        end = min(duration, end) if duration > 0 else end
        if end <= start:
            item.pop("clip", None)
            continue
        try:
            final = cut(source_path, folder / name, start, end, options.mode, info)
        except InputError as exc:
            item.pop("clip", None)
            item["clip_error"] = exc.message
            failures.append(f"{name}: {exc.message}")
            continue
        written.add(final.name)
        item["clip"] = final.relative_to(out_dir).as_posix()
    for stale in folder.iterdir():
        if stale.name not in written:
            stale.unlink(missing_ok=True)
    if not written:
        folder.rmdir()
    return failures


def cut(source: str, target: Path, start: float, end: float, mode: str, info: dict) -> Path:
    """Cut [start, end) of `source` into `target` atomically; returns the path written.

    In `source` mode the result can be a .wav next to `target` when the codec cannot be written.
    """
    if mode == "wav":
        _run_atomic(source, target, start, end, {"acodec": "pcm_s16le", "format": "wav"})
        return target
    codec = info.get("codec") or ""
    # Up to the end: containers' durations are estimates (MP3 without a header, AMR), so
    # the audio may end a little before `end`; the check then only bounds the shortfall.
    to_end = end >= float(info.get("duration_s") or 0.0) - 0.01
    rate, channels = info.get("sample_rate") or None, info.get("channels") or None
    if not codec.startswith("pcm_"):  # PCM is re-encoded losslessly, to the sample; copies cut at packets
        try:
            _run_atomic(source, target, start, end, {"acodec": "copy"}, check_duration=end - start, to_end=to_end)
            return target
        except InputError:
            pass
    encoder = codec if codec.startswith("pcm_") else ENCODERS.get(codec)
    if encoder:
        args = {"acodec": encoder}
        if rate:
            args["ar"] = rate
        if channels:
            args["ac"] = channels
        try:
            _run_atomic(source, target, start, end, args, check_duration=end - start, to_end=to_end)
            return target
        except InputError:
            pass
    fallback = target.with_suffix(".wav")
    _run_atomic(source, fallback, start, end, {"acodec": "pcm_s16le", "format": "wav"})
    return fallback


def _run_atomic(source: str, target: Path, start: float, end: float, out_args: dict,
                check_duration: float | None = None, to_end: bool = False) -> None:
    """Run ffmpeg into a temporary file beside `target`, check it, fsync, rename."""
    tmp = target.with_name(f".{target.stem}.{secrets.token_hex(4)}{TMP_MARK}{target.suffix}")
    try:
        (ffmpeg.input(source, ss=f"{start:.3f}", t=f"{end - start:.3f}")
         .output(str(tmp), map="0:a:0", map_metadata=-1, **out_args)
         .global_args("-nostdin", "-v", "error", "-y")
         .run(capture_stdout=True, capture_stderr=True))
        if not tmp.exists() or tmp.stat().st_size == 0:
            raise InputError("clip_failed", "ffmpeg wrote no clip")
        if check_duration is not None:
            got = decoded_duration(tmp)
            short = END_SLACK_S if to_end else COPY_TOLERANCE_S
            if got is None or not (check_duration - short <= got <= check_duration + COPY_TOLERANCE_S):
                raise InputError("clip_failed", f"clip is {got} s, wanted {check_duration:.3f} s")
        with open(tmp, "rb") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except ffmpeg.Error as exc:
        raise InputError("clip_failed", (exc.stderr or b"").decode("utf-8", "replace").strip()[-300:]) from exc
    finally:
        if tmp.exists():
            tmp.unlink()


def decoded_duration(path: Path) -> float | None:
    """Seconds of audio ffmpeg decodes from `path` (container durations of AMR/GSM are estimates)."""
    try:
        raw, _ = (ffmpeg.input(str(path)).output("pipe:", format="s16le", acodec="pcm_s16le", ac=1, ar=8000)
                  .global_args("-nostdin", "-v", "error").run(capture_stdout=True, capture_stderr=True))
    except ffmpeg.Error:
        return None
    return len(raw) / 2 / 8000 if raw else None
