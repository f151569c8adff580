"""Duration detector: a container's declared length against the number of samples decoded.

Container/codec integrity, not signal analysis: one score per recording, placed by
the stage at the end of the audio. Pure arithmetic on two numbers; it must not
probe or decode anything itself (the stage passes both durations in).
"""

from __future__ import annotations

# raw AMR has no length field: ffprobe guesses it from the bitrate, so a mismatch means nothing
HEADERLESS_CONTAINERS = frozenset({"amr"})


def duration_mismatch(declared_s: float, decoded_s: float, tolerance_s: float = 0.5,
                      tolerance_rel: float = 0.02) -> float:
    """Score (>= 1 flags) for a container duration that disagrees with the decoded length.

    Parameters: `declared_s` the container's duration and `decoded_s` the decoded
    samples' (seconds; either <= 0 means unknown: score 0); `tolerance_s` (0.5 s)
    absolute and `tolerance_rel` (2 %) relative slack (MP3/AAC encoder delay and
    padding, header estimates from the bit rate). The score is the difference over
    the larger slack.
    Catches: a file cut with a byte editor or re-muxed without fixing the header.
    Misses: any edit done on decoded audio and re-encoded (the header is rewritten),
    and it cannot say *where* the missing audio was (the flag is placed at the end);
    headerless containers (HEADERLESS_CONTAINERS) carry no length to compare.
    """
    if declared_s <= 0 or decoded_s <= 0:
        return 0.0
    slack = max(tolerance_s, tolerance_rel * max(declared_s, decoded_s))
    return abs(declared_s - decoded_s) / slack
