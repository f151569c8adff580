"""A recording's format signature: how the file was written, as plain JSON-able data.

The format layer of the integrity verdict (issue #25) compares each recording with
its siblings from the same call system (population.py). A call system writes
thousands of files with one configuration; an edited copy re-saved by an audio
editor, ffmpeg or pydub, or by a careful forger who matches rate, channels and
bitrate, was written by another tool and differs somewhere here.

The signature is what ffprobe reports about the container and stream (cheap:
format, streams and packet sizes, never samples) plus our own reading of the
header bytes (containers.py) and, for MP3, of every frame's side information
(mp3frames.py). Its keys:

* top-level scalars and lists: compared for equality with the siblings' norm;
* ``stats``: numeric statistics, compared against the siblings' robust range;
* ``content``: length- and content-dependent facts (duration, size, frame count),
  kept for the record and never compared;
* ``errors``: what could not be read (an unreadable file gives a signature with
  only ``errors``, never an exception: one bad file must not stop a batch).

It must not decode audio samples or judge the file: it only describes it.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess

from pipeline.integrity import containers, mp3frames

SIGNATURE_VERSION = 1
MAX_READ_BYTES = 256 * 1024 * 1024  # a call recording is far smaller; a bigger file is described from ffprobe only
FFPROBE_TIMEOUT_S = 120
# Stream and format tags whose values name the tool that wrote the file; all other tag values
# (titles, dates, call ids) differ per call, so only their keys are compared.
SOFTWARE_TAGS = ("encoder", "encoded_by", "software", "tsse", "isft", "vendor_id", "handler_name")


def format_signature(path: str) -> dict:
    """The format signature of the recording at `path` (see the module docstring for its keys)."""
    sig: dict = {"signature_version": SIGNATURE_VERSION, "ext": os.path.splitext(path)[1].lower().lstrip("."),
                 "stats": {}, "content": {}, "errors": []}
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as fh:
            data = fh.read(MAX_READ_BYTES)
    except OSError as exc:
        sig["errors"].append(f"cannot read file: {exc.strerror or exc}")
        return sig
    sig["content"]["size_bytes"] = size
    _probe(path, sig)
    _headers(data, sig)
    return sig


def _probe(path: str, sig: dict) -> None:
    """Container, codec, stream fields, tag keys, software tags and packet-size statistics from ffprobe."""
    cmd = ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
           "-show_entries", "packet=size,duration", path]
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=FFPROBE_TIMEOUT_S, check=True)
        meta = json.loads(done.stdout or b"{}")
    except (subprocess.SubprocessError, OSError, ValueError) as exc:
        sig["errors"].append(f"ffprobe cannot read it: {str(exc)[-200:]}")
        return
    fmt = meta.get("format", {})
    streams = [s for s in meta.get("streams", []) if s.get("codec_type") == "audio"]
    sig["container"] = fmt.get("format_name")
    sig["streams"] = len(meta.get("streams", []))
    if not streams:
        sig["errors"].append("no audio stream")
        return
    s = streams[0]
    sig.update({"codec": s.get("codec_name"), "codec_tag": s.get("codec_tag_string"),
                "profile": s.get("profile"), "sample_fmt": s.get("sample_fmt"),
                "sample_rate": int(s.get("sample_rate") or 0), "channels": int(s.get("channels") or 0),
                "channel_layout": s.get("channel_layout"), "bits_per_sample": int(s.get("bits_per_sample") or 0),
                "bit_rate": _round_rate(s.get("bit_rate")),
                "initial_padding": int(s.get("initial_padding") or 0)})
    tags = {k.lower(): v for k, v in {**fmt.get("tags", {}), **s.get("tags", {})}.items()}
    sig["tag_keys"] = sorted(tags)
    sig["software"] = {k: tags[k] for k in sorted(tags) if k in SOFTWARE_TAGS}
    sig["content"]["duration_s"] = float(fmt.get("duration") or s.get("duration") or 0.0)
    packets = [p for p in meta.get("packets", []) if "size" in p]
    sizes = [int(p["size"]) for p in packets]
    sig["content"]["packets"] = len(sizes)
    if sizes and not str(sig["codec"]).startswith("pcm_"):  # PCM packets are the demuxer's read size
        mean = statistics.fmean(sizes)
        sig["packet_sizes_constant"] = len(set(sizes[1:-1] or sizes)) == 1
        sig["stats"]["packet_size_mean"] = mean
        sig["stats"]["packet_size_cv"] = statistics.pstdev(sizes) / mean if mean else 0.0


def _round_rate(value) -> int | None:
    """A stream bit rate to the kb/s (ffprobe's estimate for CBR streams jitters in the last digits)."""
    try:
        return round(int(value) / 1000) * 1000
    except (TypeError, ValueError):
        return None


def _headers(data: bytes, sig: dict) -> None:
    """Our own reading of the header blocks, by what the bytes are (not by the extension)."""
    for name, parse in (("riff", containers.riff), ("ogg", containers.ogg), ("flac", containers.flac),
                        ("amr", containers.amr)):
        found = parse(data)
        if found is not None:
            _put(sig, name, found)
            return
    tag2 = containers.id3v2(data)
    start = containers.ID3V2_HEADER + tag2["content_size"] if tag2 else 0
    first = mp3frames.first_frame(data, start)
    if first is not None:
        sig["id3v2"] = _split(tag2, sig, "id3v2") if tag2 else None
        sig["id3v1"] = containers.id3v1(data)
        sig["ape"] = containers.ape(data)
        sig["bytes_before_first_frame"] = first - start
        _mp3(data, first, sig)
        return
    gsm = containers.gsm_raw(data)
    if gsm is not None:
        _put(sig, "gsm", gsm)


def _put(sig: dict, name: str, found: dict) -> None:
    sig["errors"].extend(found.pop("errors", []))
    sig["stats"].update(found.pop("stats", {}))
    sig[name] = _split(found, sig, name)


def _split(block: dict, sig: dict, prefix: str) -> dict:
    """Move a block's ``content_*`` keys (sizes that vary per call) into sig['content']."""
    out = {}
    for key, value in block.items():
        if key.startswith("content_"):
            sig["content"][f"{prefix}_{key[8:]}"] = value
        elif isinstance(value, dict):
            out[key] = _split(value, sig, f"{prefix}_{key}")
        else:
            out[key] = value
    return out


def _mp3(data: bytes, first: int, sig: dict) -> None:
    """Xing/Info/VBRI + LAME tag, bitrate mode, frame flags and side-information statistics."""
    frames, skipped = mp3frames.frame_walk(data, first)
    if not frames:
        return
    offset, header = frames[0]
    frame = data[offset:offset + header["length"]]
    info = containers.xing(frame, 4 + (2 if header["crc"] else 0))
    sig["xing"] = _split(info, sig, "xing") if info else None
    audio = frames[1:] if info else frames
    bitrates = {h["bitrate"] for _, h in audio}
    lame_mode = ((info or {}).get("lame") or {}).get("vbr_method")
    sig["bitrate_mode"] = lame_mode if lame_mode in ("CBR", "ABR", "VBR") else (
        "CBR" if len(bitrates) == 1 else "VBR")
    found = mp3frames.side_info_stats(data, audio)
    sig["mp3_frames"] = found["flags"]
    sig["stats"].update(found["stats"])
    sig["content"]["mp3_frame_stats"] = found["content"]
    samples = sum(h["samples"] for _, h in audio)
    rate = header["sample_rate"]
    sig["content"]["frames"] = len(audio)
    sig["content"]["frames_duration_s"] = samples / rate
    sig["resync_bytes"] = skipped
    declared = sig["content"].get("duration_s")
    # ffprobe's duration comes from the Xing frame count or from size/bitrate; both agree with
    # the frames actually there, to within two frames, in a file nobody cut after writing.
    sig["duration_matches_frames"] = (declared is None or
                                      abs(declared - samples / rate) <= 2 * header["samples"] / rate + 0.05)
