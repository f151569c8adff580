"""Header layout of the containers call systems write, parsed from the bytes (no audio decoding).

What an examiner reads first (Koenig & Lacey, SWGDE audio authentication): which
blocks a file has, in which order, with which fixed fields, and which tool's name is
written in them. One small parser per container over the file's bytes, each returning
plain JSON-able data:

* ``id3v2`` / ``id3v1`` / ``ape``  tag blocks around an MP3 stream (version, flags, frame ids)
* ``xing``                         the Xing/Info or VBRI header frame and the LAME tag in it
* ``riff``                         RIFF/WAVE chunk list and order, fmt fields, fact, LIST/INFO
* ``ogg``                          Ogg page layout, OpusHead, OpusTags vendor and keys, Opus TOC use
* ``flac``                         FLAC metadata blocks in order, STREAMINFO block sizes, vendor string
* ``amr`` / ``gsm``                AMR magic and frame-type use; raw GSM 06.10 frame magic

Sizes that depend on a call's length or content are reported under ``content_*`` keys
(signature.py keeps them out of the comparison). Nothing here opens ffprobe or judges
a file; a parser meets a truncated or odd block by saying so in ``errors``, never by raising.
"""

from __future__ import annotations

import statistics
import struct

ID3V2_HEADER = 10


def _syncsafe(b: bytes) -> int:
    return (b[0] << 21) | (b[1] << 14) | (b[2] << 7) | b[3]


def id3v2(data: bytes) -> dict | None:
    """The ID3v2 tag at the start: version, flags, frame ids in order, padding after the frames."""
    if len(data) < ID3V2_HEADER or data[:3] != b"ID3":
        return None
    major, rev, flags = data[3], data[4], data[5]
    size = _syncsafe(data[6:10])
    body = data[ID3V2_HEADER:ID3V2_HEADER + size]
    frames: list[str] = []
    pos = 0
    id_len, hdr_len = (3, 6) if major == 2 else (4, 10)
    while pos + hdr_len <= len(body) and body[pos] != 0:
        fid = body[pos:pos + id_len].decode("latin-1", "replace")
        if major == 2:
            fsize = int.from_bytes(body[pos + 3:pos + 6], "big")
        elif major == 4:
            fsize = _syncsafe(body[pos + 4:pos + 8])
        else:
            fsize = int.from_bytes(body[pos + 4:pos + 8], "big")
        frames.append(fid)
        pos += hdr_len + fsize
    return {"version": f"2.{major}.{rev}", "flags": flags, "frames": frames,
            "content_size": size, "padding": max(0, size - pos)}


def id3v1(data: bytes) -> dict | None:
    """The 128-byte ID3v1 tag at the end, if any (v1.1 when a track number is set)."""
    if len(data) < 128 or data[-128:-125] != b"TAG":
        return None
    tag = data[-128:]
    return {"version": "1.1" if tag[125] == 0 and tag[126] != 0 else "1.0", "genre": tag[127]}


def ape(data: bytes) -> dict | None:
    """An APEv1/v2 tag footer at the end (before an ID3v1 tag when both are there)."""
    for end in (len(data), len(data) - 128):
        foot = data[end - 32:end] if end >= 32 else b""
        if foot[:8] == b"APETAGEX":
            version, _size, items, flags = struct.unpack("<IIII", foot[8:24])
            return {"version": version, "items": items, "flags": flags}
    return None


LAME_VBR_METHODS = {0: "unknown", 1: "CBR", 2: "ABR", 3: "VBR", 4: "VBR", 5: "VBR", 6: "VBR", 8: "CBR",
                    9: "ABR"}


def xing(frame: bytes, side_info_offset: int) -> dict | None:
    """The Xing/Info (or VBRI) header in the stream's first frame, with the LAME tag after it.

    `side_info_offset`: where the side information starts (4, or 6 with a CRC); the
    Xing tag sits right after the side information, VBRI always 32 bytes after the header.
    """
    if frame[36:40] == b"VBRI":
        version, delay, quality = struct.unpack(">HHH", frame[40:46])
        return {"kind": "VBRI", "version": version, "quality": quality, "delay": delay}
    for pos in range(side_info_offset, min(len(frame) - 8, side_info_offset + 40)):
        if frame[pos:pos + 4] in (b"Xing", b"Info"):
            break
    else:
        return None
    kind = frame[pos:pos + 4].decode()
    flags = int.from_bytes(frame[pos + 4:pos + 8], "big")
    p = pos + 8
    out: dict = {"kind": kind, "flags": flags, "offset": pos}
    if flags & 1:
        out["content_frames"] = int.from_bytes(frame[p:p + 4], "big")
        p += 4
    if flags & 2:
        out["content_bytes"] = int.from_bytes(frame[p:p + 4], "big")
        p += 4
    if flags & 4:
        p += 100
    if flags & 8:
        out["quality"] = int.from_bytes(frame[p:p + 4], "big")
        p += 4
    out["lame"] = _lame_tag(frame[p:p + 36])
    return out


def _lame_tag(tag: bytes) -> dict | None:
    """The LAME extension of a Xing header: encoder string, VBR method, lowpass, flags, delays, preset."""
    if len(tag) < 36 or not tag[:4].isalpha():
        return None
    encoder = tag[:9].rstrip(b"\x00 ").decode("latin-1", "replace")
    if not encoder.startswith(("LAME", "Lavc", "Lavf", "L3.9", "GOGO")):
        return {"encoder": encoder}
    delays = int.from_bytes(tag[21:24], "big")
    return {"encoder": encoder, "revision": tag[9] >> 4, "vbr_method": LAME_VBR_METHODS.get(tag[9] & 15, "other"),
            "lowpass_hz": tag[10] * 100, "enc_flags": tag[19] >> 4, "ath_type": tag[19] & 15,
            "abr_bitrate": tag[20], "delay": delays >> 12, "content_padding": delays & 0xFFF,
            "misc": tag[24], "preset": int.from_bytes(tag[26:28], "big") & 0x7FF}


def riff(data: bytes) -> dict | None:
    """RIFF/WAVE: chunks in order, fmt fields, fact, LIST/INFO keys (values of ISFT/IENG), size consistency."""
    if len(data) < 12 or data[:4] not in (b"RIFF", b"RIFX", b"RF64") or data[8:12] != b"WAVE":
        return None
    riff_size = struct.unpack("<I", data[4:8])[0]
    chunks: list[str] = []
    out: dict = {"form": data[:4].decode(), "riff_size_matches_file": riff_size + 8 == len(data),
                 "errors": []}
    pos = 12
    while pos + 8 <= len(data):
        cid = data[pos:pos + 4].decode("latin-1", "replace")
        size = struct.unpack("<I", data[pos + 4:pos + 8])[0]
        body = data[pos + 8:pos + 8 + size]
        chunks.append(cid)
        if cid == "fmt ":
            out["fmt"] = _fmt(body)
        elif cid == "fact" and size >= 4:
            out["fact_size"] = size
        elif cid == "LIST" and body[:4] == b"INFO":
            out["info"] = _info(body[4:])
        elif cid == "data":
            # whether an odd data chunk is padded: odd or even is the call's length, so it is content, never compared
            out["content_data_odd_padded"] = bool(size & 1) and len(data) > pos + 8 + size
            out["data_offset"] = pos + 8
            out["data_size_matches_file"] = pos + 8 + size <= len(data)
        if size > len(data) - pos - 8:
            out["errors"].append(f"chunk {cid!r} runs past the end of the file")
            break
        pos += 8 + size + (size & 1)
    out["chunks"] = chunks
    out["trailing_bytes"] = max(0, len(data) - pos)
    return out


def _fmt(body: bytes) -> dict:
    if len(body) < 16:
        return {"size": len(body)}
    tag, ch, rate, byte_rate, align, bits = struct.unpack("<HHIIHH", body[:16])
    out = {"size": len(body), "format_tag": tag, "channels": ch, "sample_rate": rate,
           "byte_rate": byte_rate, "block_align": align, "bits_per_sample": bits}
    if len(body) >= 18:
        out["cb_size"] = struct.unpack("<H", body[16:18])[0]
        out["extra"] = body[18:].hex()
    return out


def _info(body: bytes) -> dict:
    keys: list[str] = []
    software = None
    pos = 0
    while pos + 8 <= len(body):
        key = body[pos:pos + 4].decode("latin-1", "replace")
        size = struct.unpack("<I", body[pos + 4:pos + 8])[0]
        if key in ("ISFT", "IENG"):
            software = body[pos + 8:pos + 8 + size].rstrip(b"\x00").decode("latin-1", "replace")
        keys.append(key)
        pos += 8 + size + (size & 1)
    return {"keys": keys, "software": software}


OPUS_MODES = ["silk"] * 12 + ["hybrid"] * 4 + ["celt"] * 16


def ogg(data: bytes) -> dict | None:
    """Ogg: page layout (pages, packets per page, granule step), OpusHead, OpusTags, Opus TOC and packet sizes."""
    if data[:4] != b"OggS":
        return None
    pos = 0
    pages: list[tuple[int, int, int]] = []  # header_type, granule, packets ending on the page
    packets: list[bytes] = []
    pending = b""
    errors: list[str] = []
    while pos + 27 <= len(data):
        if data[pos:pos + 4] != b"OggS":
            errors.append(f"no page at byte {pos}")
            break
        htype = data[pos + 5]
        granule = struct.unpack("<q", data[pos + 6:pos + 14])[0]
        nseg = data[pos + 26]
        lacing = data[pos + 27:pos + 27 + nseg]
        body_pos = pos + 27 + nseg
        ended = 0
        for lace in lacing:
            pending += data[body_pos:body_pos + lace]
            body_pos += lace
            if lace < 255:
                packets.append(pending)
                pending = b""
                ended += 1
        pages.append((htype, granule, ended))
        pos = body_pos
    out: dict = {"errors": errors, "content_pages": len(pages)}
    if packets and packets[0][:8] == b"OpusHead":
        head = packets[0]
        version, ch, preskip, rate, gain, mapping = struct.unpack("<BBHIhB", head[8:19])
        out["opus_head"] = {"version": version, "channels": ch, "pre_skip": preskip, "input_rate": rate,
                            "output_gain": gain, "mapping": mapping}
        if len(packets) > 1 and packets[1][:8] == b"OpusTags":
            out["opus_tags"] = _opus_tags(packets[1][8:])
        out.update(_opus_packets(packets[2:], pages[2:] if len(pages) > 2 else []))
    elif packets:
        out["first_packet"] = packets[0][:8].hex()
    return out


def _opus_tags(body: bytes) -> dict:
    vlen = struct.unpack("<I", body[:4])[0]
    vendor = body[4:4 + vlen].decode("utf-8", "replace")
    pos = 4 + vlen
    keys: list[str] = []
    if pos + 4 <= len(body):
        count = struct.unpack("<I", body[pos:pos + 4])[0]
        pos += 4
        for _ in range(count):
            if pos + 4 > len(body):
                break
            n = struct.unpack("<I", body[pos:pos + 4])[0]
            keys.append(body[pos + 4:pos + 4 + n].split(b"=", 1)[0].decode("utf-8", "replace").upper())
            pos += 4 + n
    return {"vendor": vendor, "keys": sorted(keys), "padding": max(0, len(body) - pos)}


def _opus_packets(packets: list[bytes], pages: list[tuple[int, int, int]]) -> dict:
    """Which Opus configurations the encoder chose and how it laid packets onto pages."""
    if not packets:
        return {}
    configs = [p[0] >> 3 for p in packets if p]
    sizes = [len(p) for p in packets]
    modes = [OPUS_MODES[c] for c in configs]
    main = statistics.mode(configs)
    per_page = [n for _, _, n in pages[:-1]] or [0]
    steps = [b[1] - a[1] for a, b in zip(pages, pages[1:-1] if len(pages) > 2 else [])]
    return {"opus_main_config": main, "opus_modes_used": sorted(set(modes)),
            "opus_frame_count_codes": sorted({p[0] & 3 for p in packets if p}),
            "opus_stereo_flag_used": any(p[0] & 4 for p in packets if p),
            "stats": {"opus_main_config_share": configs.count(main) / len(configs),
                      "opus_packet_size_mean": statistics.fmean(sizes),
                      "opus_packet_size_cv": (statistics.pstdev(sizes) / statistics.fmean(sizes)),
                      "opus_packets_per_page_median": statistics.median(per_page),
                      "opus_granule_step_median": statistics.median(steps) if steps else 0}}


FLAC_BLOCKS = {0: "STREAMINFO", 1: "PADDING", 2: "APPLICATION", 3: "SEEKTABLE", 4: "VORBIS_COMMENT",
               5: "CUESHEET", 6: "PICTURE"}


def flac(data: bytes) -> dict | None:
    """FLAC: metadata blocks in order, the encoder's block sizes, the vendor string and comment keys."""
    if data[:4] != b"fLaC":
        return None
    pos, blocks, out = 4, [], {"errors": []}
    while pos + 4 <= len(data):
        head, size = data[pos], int.from_bytes(data[pos + 1:pos + 4], "big")
        kind = FLAC_BLOCKS.get(head & 127, f"reserved{head & 127}")
        body = data[pos + 4:pos + 4 + size]
        blocks.append(kind)
        if kind == "STREAMINFO" and size >= 18:
            out["min_block"], out["max_block"] = struct.unpack(">HH", body[:4])
            out["bits_per_sample"] = ((body[12] & 1) << 4 | body[13] >> 4) + 1
            out["md5_set"] = any(body[18:34])
        elif kind == "VORBIS_COMMENT":
            out["comments"] = _opus_tags(body)
        elif kind == "PADDING":
            out["content_padding"] = size
        pos += 4 + size
        if head & 128:
            break
    out["blocks"] = blocks
    return out


AMR_MAGIC = {b"#!AMR\n": "amr-nb", b"#!AMR-WB\n": "amr-wb", b"#!AMR_MC1.0\n": "amr-nb-mc",
             b"#!AMR-WB_MC1.0\n": "amr-wb-mc"}
AMR_NB_FRAME_BYTES = [13, 14, 16, 18, 20, 21, 27, 32, 6, 0, 0, 0, 0, 0, 0, 1]
AMR_WB_FRAME_BYTES = [18, 24, 33, 37, 41, 47, 51, 59, 61, 6, 0, 0, 0, 0, 1, 1]


def amr(data: bytes) -> dict | None:
    """AMR storage format (RFC 4867 §5): magic, the frame types (modes) used, DTX/no-data frames."""
    for magic, kind in AMR_MAGIC.items():
        if data.startswith(magic):
            break
    else:
        return None
    sizes = AMR_WB_FRAME_BYTES if "wb" in kind else AMR_NB_FRAME_BYTES
    pos, types, quality = len(magic), [], True
    while pos < len(data):
        ft = (data[pos] >> 3) & 15
        quality = quality and bool(data[pos] & 4)
        types.append(ft)
        pos += max(1, sizes[ft])
    modes = sorted(set(types))
    return {"magic": kind, "modes_used": modes, "quality_bits_all_set": quality,
            "trailing_partial_frame": pos != len(data),
            "stats": {"amr_main_mode_share": types.count(statistics.mode(types)) / len(types) if types else 0.0}}


GSM_FRAME = 33


def gsm_raw(data: bytes) -> dict | None:
    """Raw GSM 06.10 (.gsm): 33-byte frames, each starting with the 0xD signature nibble; nothing else."""
    if len(data) < GSM_FRAME or data[0] >> 4 != 0xD:
        return None
    frames = len(data) // GSM_FRAME
    magic = sum(1 for i in range(frames) if data[i * GSM_FRAME] >> 4 == 0xD)
    return {"frames_with_magic": magic == frames, "trailing_bytes": len(data) - frames * GSM_FRAME}
