"""MP3 frame headers and side information: what the encoder chose, frame by frame, without decoding audio.

An MP3 encoder leaves its fingerprint in choices the format leaves open: when to
switch to short blocks, how much of the bit reservoir to use (main_data_begin),
how it splits the spectrum into regions and which Huffman tables it picks, how it
codes scalefactors (scalefac_compress, scfsi, scalefac_scale, preflag), the
count1 table, the padding pattern and the header bits it sets (private, copyright,
original, emphasis, CRC). Two encoders, or one encoder with other settings, make
different choices on the same audio; these survive stripping every tag and header
(Böhme & Westfeld 2004, "Feature-based encoder classification of compressed
audio streams"; Koenig & Lacey on file structure).

`frame_walk(data, start)` follows the frame chain from `start`; `side_info_stats`
turns the frames into plain categorical facts (``flags``) and numeric statistics
(``stats``, compared with a robust range by the population). Statistics are
shares and means over all granules, so they do not grow with the call's length.
It must not decode samples (no Huffman decoding): everything comes from the
4-byte header and the side information that follows it.
"""

from __future__ import annotations

import statistics
from collections import Counter

VERSIONS = {0: "2.5", 2: "2", 3: "1"}
LAYERS = {1: 3, 2: 2, 3: 1}
BITRATES = {("1", 3): [0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320],
            ("2", 3): [0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160]}
RATES = {"1": [44100, 48000, 32000], "2": [22050, 24000, 16000], "2.5": [11025, 12000, 8000]}
MODES = ["stereo", "joint_stereo", "dual_channel", "mono"]


def parse_header(h: int) -> dict | None:
    """A Layer III frame header as a dict, or None when the 32 bits are not one."""
    if h >> 21 != 0x7FF:
        return None
    version = VERSIONS.get((h >> 19) & 3)
    layer = LAYERS.get((h >> 17) & 3)
    br_idx, sr_idx = (h >> 12) & 15, (h >> 10) & 3
    if version is None or layer != 3 or br_idx in (0, 15) or sr_idx == 3:
        return None
    bitrate = BITRATES[("1" if version == "1" else "2", 3)][br_idx] * 1000
    rate = RATES[version][sr_idx]
    padding = (h >> 9) & 1
    coef = 144 if version == "1" else 72
    return {"version": version, "layer": layer, "crc": not (h >> 16) & 1, "bitrate": bitrate,
            "sample_rate": rate, "padding": padding, "private": (h >> 8) & 1, "mode": MODES[(h >> 6) & 3],
            "mode_ext": (h >> 4) & 3, "copyright": (h >> 3) & 1, "original": (h >> 2) & 1, "emphasis": h & 3,
            "length": coef * bitrate // rate + padding, "samples": 1152 if version == "1" else 576}


def side_info_size(header: dict) -> int:
    mono = header["mode"] == "mono"
    if header["version"] == "1":
        return 17 if mono else 32
    return 9 if mono else 17


def frame_walk(data: bytes, start: int) -> tuple[list[tuple[int, dict]], int]:
    """Frames (offset, header) chained from `start`, and the count of bytes skipped to resync."""
    frames: list[tuple[int, dict]] = []
    pos, skipped = start, 0
    end = len(data) - 4
    while pos <= end:
        header = parse_header(int.from_bytes(data[pos:pos + 4], "big"))
        if header is None or pos + header["length"] > len(data) + 1:
            if data[pos:pos + 3] == b"TAG" or data[pos:pos + 8] == b"APETAGEX":
                break
            pos += 1
            skipped += 1
            continue
        frames.append((pos, header))
        pos += header["length"]
    return frames, skipped


def first_frame(data: bytes, start: int) -> int | None:
    """Offset of the first frame at or after `start` that is followed by another (two in a row: not noise)."""
    for pos in range(start, min(len(data) - 4, start + 65536)):
        header = parse_header(int.from_bytes(data[pos:pos + 4], "big"))
        if header is None:
            continue
        nxt = pos + header["length"]
        if nxt + 4 > len(data) or parse_header(int.from_bytes(data[nxt:nxt + 4], "big")) is not None:
            return pos
    return None


class _Bits:
    def __init__(self, data: bytes):
        self.value = int.from_bytes(data, "big")
        self.left = len(data) * 8

    def take(self, n: int) -> int:
        self.left -= n
        return (self.value >> self.left) & ((1 << n) - 1)


def granules(data: bytes, offset: int, header: dict) -> tuple[int, list[int], list[dict]]:
    """main_data_begin, scfsi bands used per channel, and the granule/channel entries of one frame's side info."""
    nch = 1 if header["mode"] == "mono" else 2
    lsf = header["version"] != "1"
    start = offset + 4 + (2 if header["crc"] else 0)
    bits = _Bits(data[start:start + side_info_size(header)])
    main_data_begin = bits.take(8 if lsf else 9)
    bits.take((1 if nch == 1 else 2) if lsf else (5 if nch == 1 else 3))
    scfsi = [0] * nch if lsf else [bits.take(4) for _ in range(nch)]
    entries = []
    for _gr in range(1 if lsf else 2):
        for ch in range(nch):
            g = {"ch": ch, "part2_3_length": bits.take(12), "big_values": bits.take(9),
                 "global_gain": bits.take(8), "scalefac_compress": bits.take(9 if lsf else 4)}
            if bits.take(1):
                g["block_type"] = bits.take(2)
                g["mixed"] = bits.take(1)
                g["tables"] = (bits.take(5), bits.take(5))
                g["subblock_gain"] = (bits.take(3), bits.take(3), bits.take(3))
                g["regions"] = None
            else:
                g["block_type"] = 0
                g["mixed"] = 0
                g["tables"] = (bits.take(5), bits.take(5), bits.take(5))
                g["subblock_gain"] = (0, 0, 0)
                g["regions"] = (bits.take(4), bits.take(3))
            g["preflag"] = 0 if lsf else bits.take(1)
            g["scalefac_scale"] = bits.take(1)
            g["count1table"] = bits.take(1)
            entries.append(g)
    return main_data_begin, scfsi, entries


def _share(items: list, test) -> float:
    return sum(1 for x in items if test(x)) / len(items) if items else 0.0


def side_info_stats(data: bytes, frames: list[tuple[int, dict]]) -> dict:
    """Header flags and encoder-choice statistics over `frames` (the Xing/Info frame already left out).

    ``flags`` are facts one encoder configuration always produces the same way
    (sets of values used); ``stats`` are shares and means that vary a little with the
    audio and are compared against a robust range of the siblings'.
    """
    if not frames:
        return {"flags": {}, "stats": {}, "content": {}}
    headers = [h for _, h in frames]
    mdb, scfsi_used, gr = [], [], []
    for offset, header in frames:
        if offset + 4 + side_info_size(header) + (2 if header["crc"] else 0) > len(data):
            continue
        m, scfsi, entries = granules(data, offset, header)
        mdb.append(m)
        scfsi_used.extend(scfsi)
        gr.extend(entries)
    coded = [g for g in gr if g["part2_3_length"] > 0]  # silent granules carry no choices
    tables = Counter(t for g in coded for t in g["tables"][: 3 if g["regions"] else 2] if t)
    regions = Counter(g["regions"] for g in coded if g["regions"])
    top_region, top_region_n = regions.most_common(1)[0] if regions else (None, 0)
    sf_comp = Counter(g["scalefac_compress"] for g in coded)
    gains = [g["global_gain"] for g in coded] or [0]
    p23 = [g["part2_3_length"] for g in gr] or [0]
    lengths = Counter(h["length"] for h in headers)
    flags = {"versions": sorted({h["version"] for h in headers}), "layers": sorted({h["layer"] for h in headers}),
             "crc": sorted({h["crc"] for h in headers}), "bitrates": sorted({h["bitrate"] for h in headers}),
             "sample_rates": sorted({h["sample_rate"] for h in headers}),
             "modes": sorted({h["mode"] for h in headers}),
             "mode_ext": sorted({h["mode_ext"] for h in headers if h["mode"] == "joint_stereo"}),
             "private": sorted({h["private"] for h in headers}),
             "copyright": sorted({h["copyright"] for h in headers}),
             "original": sorted({h["original"] for h in headers}),
             "emphasis": sorted({h["emphasis"] for h in headers}),
             # "*_used": an encoder that never makes this choice never makes it on any audio
             # (compared one way only: see population.py)
             "padding_used": any(h["padding"] for h in headers),
             "reservoir_used": any(mdb),
             "short_blocks_used": any(g["block_type"] == 2 for g in gr),
             "mixed_blocks_used": any(g["mixed"] for g in gr),
             "scfsi_used": any(scfsi_used),
             "preflag_used": any(g["preflag"] for g in gr),
             "scalefac_scale_used": any(g["scalefac_scale"] for g in gr),
             "scalefac_compress_used": any(g["scalefac_compress"] for g in gr)}
    # Encoder choices: how one configuration decides, stable over content (a robust range of the siblings').
    stats = {"mp3_padding_share": _share(headers, lambda h: h["padding"]),
             "mp3_main_data_begin_mean": statistics.fmean(mdb) if mdb else 0.0,
             "mp3_main_data_begin_zero_share": _share(mdb, lambda m: m == 0),
             "mp3_scalefac_compress_zero_share": _share(coded, lambda g: g["scalefac_compress"] == 0),
             "mp3_scalefac_compress_distinct": len(sf_comp),
             "mp3_scalefac_scale_share": _share(coded, lambda g: g["scalefac_scale"]),
             "mp3_preflag_share": _share(coded, lambda g: g["preflag"])}
    # Shaped by the audio itself (loudness, silence, transients, spectrum): recorded, never compared.
    # Block switching follows the psychoacoustic model's transients and the region split follows
    # where the spectrum ends, so both vary with the call (on real speech: short-block share
    # 0.02-0.30, most common region split 33-74 % of granules, for one LAME configuration).
    # Subblock gain exists only in short blocks, so whether it is used follows the transients too
    # (on the real-speech codec set 7 of 51 genuine MP3s at one LAME setting used it, the rest not).
    content = {"subblock_gain_used": any(any(g["subblock_gain"]) for g in gr),
               "short_block_share": _share(coded, lambda g: g["block_type"] == 2),
               "switch_block_share": _share(coded, lambda g: g["block_type"] in (1, 3)),
               "top_region_split": list(top_region) if top_region else None,
               "top_region_split_share": top_region_n / max(1, sum(regions.values())),
               "silent_granule_share": _share(gr, lambda g: g["part2_3_length"] == 0),
               "part2_3_length_mean": statistics.fmean(p23),
               "part2_3_length_cv": statistics.pstdev(p23) / max(1.0, statistics.fmean(p23)),
               "global_gain_mean": statistics.fmean(gains), "global_gain_sd": statistics.pstdev(gains),
               "big_values_mean": statistics.fmean([g["big_values"] for g in coded]) if coded else 0.0,
               "count1table_share": _share(coded, lambda g: g["count1table"]),
               "region0_count_mean": statistics.fmean([r[0] for r in regions.elements()]) if regions else 0.0,
               "huffman_tables_used": sorted(tables),
               "table_top_share": (tables.most_common(1)[0][1] / sum(tables.values())) if tables else 0.0,
               "frame_lengths": sorted(lengths)}
    return {"flags": flags, "stats": stats, "content": content}
