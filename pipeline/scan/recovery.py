"""Quiet-speech recovery: raise speech far below its channel's level before transcription.

Whisper drops a statement 20-30 dB below the rest of the call, and webrtcvad hears
only its loudest syllables, so a mumbled disclosure would be reported `missing`
instead of `inaudible`. This runs inside the transcript stage (before the one ASR
pass); the other recovery, re-searching abnormally fast speech with a looser
threshold, belongs to the checks (pipeline.delivery.fast_speech, MatchOptions.fast_slack).
The boosted samples feed the ASR only: levels and clips come from the original audio.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.scan import vad
from pipeline.scan.levels import ChannelLevels, dbfs


@dataclass(frozen=True)
class RecoveryOptions:
    """Thresholds of the two recovery passes (defaults calibrated on the fixtures).

    quiet_below_db: speech this far under its channel's median speech level is raised to it.
    quiet_context_s: audio raised around each quiet VAD segment (never into louder neighbours).
    fast_min_rate: syllables/s from which a stretch counts as abnormally fast speech, 7.5/s is
        two thirds faster than normal reading (fixtures: normal 3.5-6.9/s, too fast 8.2-9.3/s).
    """

    quiet_below_db: float = 15.0
    quiet_context_s: float = 1.5
    fast_min_rate: float = 7.5


def boost_quiet(samples: np.ndarray, sample_rate: int, speech: list[vad.SpeechSegment],
                levels: dict[int, ChannelLevels], options: RecoveryOptions = RecoveryOptions(),
                vad_options: vad.VadOptions = vad.VadOptions(),
                ) -> tuple[np.ndarray, list[vad.SpeechSegment], list[vad.SpeechSegment]]:
    """Raise speech more than `quiet_below_db` under its channel's level, and find its speech again.

    Around each quiet VAD segment (widened by `quiet_context_s`, never into louder
    neighbours) the audio is raised to the channel's speech level and VAD runs again
    there. Returns the samples to transcribe (the original ones stay for the level
    measurements), the new speech segments, and the raised windows. Doing this
    before the one ASR pass costs no extra decoding.
    """
    def level(seg: vad.SpeechSegment) -> float:
        return dbfs(samples[seg.channel, int(seg.start * sample_rate): int(seg.end * sample_rate)])

    quiet = [s for s in speech if level(s) < levels[s.channel].speech_dbfs - options.quiet_below_db]
    if not quiet:
        return samples, speech, []
    boosted, new_speech, windows = samples.copy(), [s for s in speech if s not in quiet], []
    duration = samples.shape[1] / sample_rate
    for seg in quiet:
        louder = [s for s in new_speech if s.channel == seg.channel]
        start = max([seg.start - options.quiet_context_s, 0.0] + [s.end for s in louder if s.end <= seg.start])
        end = min([seg.end + options.quiet_context_s, duration] + [s.start for s in louder if s.start >= seg.end])
        lo, hi = int(start * sample_rate), int(end * sample_rate)
        gain = 10 ** ((levels[seg.channel].speech_dbfs - level(seg)) / 20)
        boosted[seg.channel, lo:hi] = np.clip(samples[seg.channel, lo:hi] * gain, -1.0, 1.0)
        for piece in vad.detect_speech(boosted[seg.channel:seg.channel + 1, lo:hi], sample_rate, vad_options):
            new_speech.append(vad.SpeechSegment(round(start + piece.start, 3), round(start + piece.end, 3),
                                                seg.channel))
        windows.append(vad.SpeechSegment(round(start, 3), round(end, 3), seg.channel))
    return boosted, sorted(new_speech, key=lambda s: (s.start, s.channel)), windows


def mark_recovered(segments: list[dict], windows: list[vad.SpeechSegment]) -> list[dict]:
    """Tag the transcript segments heard in a raised window with `"recovered": "gain"`."""
    for segment in segments:
        if any(w.channel == segment["channel"] and segment["start"] < w.end and w.start < segment["end"]
               for w in windows):
            segment["recovered"] = "gain"
    return segments
