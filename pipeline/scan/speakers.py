"""Roles stage: which speech is the agent's and which the customer's.

A mandatory statement counts only when the agent says it, so every segment gets
`speaker: agent|customer|unknown`, and the conversation metrics need each
party's talk on its own.

Stereo recordings keep the parties on separate channels; only which channel is
the agent's must be known: from the metadata (`agent_channel`), from
`--agent-channel`, or inferred from who talks like an agent (`AGENT_WORDS`:
您好, 请问, 为您...), ties going to whoever spoke first. The evidence is kept in
`record["roles"]`.

Mono recordings are split without training and without downloads (a
speaker-embedding model would need weights fetched at run time or torch):
mel cepstra describe the voice every 10 ms; each unpadded VAD span is cut at
the pauses inside it where the voices on either side differ (a full-covariance
Gaussian likelihood-ratio distance, as in BIC speaker segmentation); the pieces
are clustered bottom-up into two speakers (or one, when the two left are closer
than any two speakers measured: SpeakerOptions); a refinement pass gives every piece
to the speaker whose pooled Gaussian explains it best; runs of one speaker are
turns. Turns change only at pauses (a change without any pause is missed), and
overlapping speech gets one label.
It labels speech; it never changes the transcript's text.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from pipeline.scan import vad

FRAME_S = 0.01   # hop of the cepstral frames
AGENT, CUSTOMER, UNKNOWN = "agent", "customer", "unknown"
# Words an agent says and a customer rarely does: the polite 您 of service talk,
# greetings and service formulas. Counted per speaker to decide who the agent is.
AGENT_WORDS = ("您", "请问", "我是", "这里是", "为您", "帮您", "感谢", "稍等", "客服", "欢迎")


@dataclass(frozen=True)
class SpeakerOptions:
    """How speech is split into turns and turns into roles.

    `agent_channel` forces the agent's channel of a stereo call (`--agent-channel`;
    a metadata row's `agent_channel` wins over it). The VAD settings are those of
    turn boundaries, not of ASR: no padding, so that two parties' turns only
    overlap where they really talk at once.

    Mono split: `cepstra` mel cepstra (c1.., no c0: the line's level says
    nothing about who speaks) from `mel_bands` filters over 100-3400 Hz, the phone
    band, so 8 and 16 kHz recordings are described alike; only frames within
    `voice_range_db` of their span's loudest carry the voice (pauses and breath
    sound alike for everyone). A span is cut at a pause longer than `pause_s`
    when the two sides are at least `speaker_distance` apart, each at least
    `min_segment_s` long: shorter pieces have too few frames for a covariance
    (0.8 s = 80 frames for the 90 parameters of a 12-dimensional Gaussian is
    already the edge), so they are clustered only at the refinement.

    `speaker_distance` (a likelihood ratio per frame, chance level removed, see
    `distance`) also decides one speaker or two. Measured: the two speakers of
    every two-speaker call, TTS fixtures and real-voice mixes alike, were 0.19 to
    1.03 apart (0.19: a customer with 0.8 s of speech); one real speaker's halves
    0.16 to 0.33 on 20-30 s and up to 0.7 on single 8 s sentences. The ranges
    overlap, so the line is drawn below every two-speaker call (0.15, a margin
    of 0.04): a recording is called one speaker only when it is more uniform than
    any two-speaker call measured, and most one-speaker recordings are still
    split in two (README, Who said it).
    """

    agent_channel: int | None = None
    vad_aggressiveness: int = 2
    merge_gap_s: float = 0.3
    min_speech_s: float = 0.25
    cepstra: int = 12
    mel_bands: int = 24
    voice_range_db: float = 30.0
    min_segment_s: float = 0.8
    pause_s: float = 0.09
    speaker_distance: float = 0.15
    # Crediting does not rely on the mono split: on a one-speaker recording it still
    # invents a second speaker for 20-50 % of the speech (README, Who said it), which
    # would deny real statements their credit. A mono segment's `speaker` stays unknown;
    # the split's guess is kept in `split_speaker` (and drives the metrics).
    trust_mono_split: bool = False


# --- cepstral features -------------------------------------------------------------------

def mel_filters(rate: int, nfft: int, bands: int, low_hz: float = 100.0, high_hz: float = 3400.0) -> np.ndarray:
    """Triangular mel filters over the phone band, so 8 kHz and 16 kHz recordings give the same features."""
    def mel(f):
        return 2595.0 * np.log10(1.0 + f / 700.0)
    edges = 700.0 * (10 ** (np.linspace(mel(low_hz), mel(high_hz), bands + 2) / 2595.0) - 1.0)
    freqs = np.fft.rfftfreq(nfft, 1.0 / rate)
    rising = (freqs[None] - edges[:-2, None]) / (edges[1:-1] - edges[:-2])[:, None]
    falling = (edges[2:, None] - freqs[None]) / (edges[2:] - edges[1:-1])[:, None]
    return np.clip(np.minimum(rising, falling), 0.0, None)


def cepstra(x: np.ndarray, rate: int, options: SpeakerOptions) -> tuple[np.ndarray, np.ndarray]:
    """Mel cepstra c1..cN of each 25 ms frame, one every FRAME_S, and each frame's log energy.

    c0 (loudness) is left out so the level of the line does not decide the speaker;
    the cepstra describe the shape of the vocal tract and of the voice's spectrum.
    """
    n, hop = int(0.025 * rate), int(FRAME_S * rate)
    if x.size < n:
        return np.zeros((0, options.cepstra)), np.zeros(0)
    frames = np.lib.stride_tricks.sliding_window_view(x.astype(np.float64), n)[::hop] * np.hamming(n)
    nfft = 1 << (n - 1).bit_length()
    power = np.abs(np.fft.rfft(frames, nfft, axis=1)) ** 2
    logmel = np.log(np.maximum(power @ mel_filters(rate, nfft, options.mel_bands).T, 1e-10))
    k = np.arange(options.mel_bands)
    dct = np.cos(np.pi / options.mel_bands * (k[None, :] + 0.5) * np.arange(1, options.cepstra + 1)[:, None])
    energy = np.log(np.maximum((frames ** 2).sum(axis=1), 1e-10))
    return logmel @ dct.T, energy


def span_frames(spans: list[tuple[float, float]], energy: np.ndarray, options: SpeakerOptions) -> list[np.ndarray]:
    """Indices of each span's frames loud enough to carry the voice (within `voice_range_db` of the span's peak).

    Pauses and breath inside a span look alike for every speaker; leaving them
    out keeps the statistics about the voice.
    """
    out = []
    floor = options.voice_range_db / 10 * np.log(10)   # dB -> natural log of energy
    for start, end in spans:
        idx = np.arange(int(start / FRAME_S), min(int(end / FRAME_S), energy.size))
        out.append(idx[energy[idx] >= energy[idx].max() - floor] if idx.size else idx)
    return out


# --- change points and clustering --------------------------------------------------------

@dataclass(frozen=True)
class Voice:
    """Sufficient statistics of a run of frames (count, sum, sum of outer products): a Gaussian that can be
    pooled with another by adding, so clustering never stacks frames again."""

    n: int
    total: np.ndarray
    outer: np.ndarray

    @classmethod
    def of(cls, frames: np.ndarray) -> Voice:
        return cls(len(frames), frames.sum(axis=0), frames.T @ frames)

    def __add__(self, other: Voice) -> Voice:
        return Voice(self.n + other.n, self.total + other.total, self.outer + other.outer)

    def gaussian(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and covariance, slightly regularised so a short run stays well defined."""
        mean = self.total / max(self.n, 1)
        cov = self.outer / max(self.n, 1) - np.outer(mean, mean)
        return mean, cov + 1e-3 * np.eye(len(mean))

    def log_det(self) -> float:
        return float(np.linalg.slogdet(self.gaussian()[1])[1])


def distance(a: Voice, b: Voice) -> float:
    """Generalised likelihood ratio per frame, less its chance level: one full-covariance Gaussian for
    a and b together against one each.

    About 0 when both come from one voice, growing as they differ; per frame, so
    long and short segments are judged on one scale. Two samples of one Gaussian
    still differ by chance, the less the more frames they have: twice the GLR is
    then χ² with as many degrees of freedom as the second Gaussian's parameters,
    so its mean (half of them) is taken off. Without that, short segments looked
    like other speakers.
    """
    both = a + b
    d = len(both.total)
    glr = 0.5 * (both.n * both.log_det() - a.n * a.log_det() - b.n * b.log_det())
    return (glr - (d + d * (d + 1) / 2) / 2) / both.n


def change_points(frames: np.ndarray, candidates: list[int], options: SpeakerOptions) -> list[int]:
    """Which of the `candidates` (frame positions: pauses inside a VAD span) are changes of speaker.

    Recursively, the candidate that leaves at least `min_segment_s` on each side
    and sets the two sides furthest apart is kept when they are as far apart as two
    speakers (`speaker_distance`). Turns change at pauses, often too short to end a
    VAD span; a change without any pause is not found.
    """
    least = int(options.min_segment_s / FRAME_S)
    usable = [c for c in candidates if least <= c <= len(frames) - least]
    if not usable:
        return []
    scores = [distance(Voice.of(frames[:c]), Voice.of(frames[c:])) for c in usable]
    best = int(np.argmax(scores))
    if scores[best] < options.speaker_distance:
        return []
    cut = usable[best]
    return (change_points(frames[:cut], [c for c in candidates if c < cut], options) + [cut]
            + [cut + c for c in change_points(frames[cut:], [c - cut for c in candidates if c > cut], options)])


def cluster(segments: list[np.ndarray], options: SpeakerOptions) -> np.ndarray:
    """Label segments 0/1 by agglomerative clustering; all 0 when the call sounds like one speaker.

    Segments long enough to describe a voice (`min_segment_s`) are merged, two
    groups at a time, where merging costs the least likelihood (the distance times
    the frames concerned, as in BIC clustering), until two groups are left. The
    cost grows with the frames, so a short odd segment (a cough, a question's
    rising tone) joins its nearest group instead of ending as a "speaker" of its
    own. If the two groups left are closer than `speaker_distance` they are one
    speaker. Cluster 0 is the one that speaks first.
    """
    least = int(options.min_segment_s / FRAME_S)
    long = [i for i, s in enumerate(segments) if len(s) >= least]
    if len(long) < 2:
        return np.zeros(len(segments), int)
    members = [[i] for i in long]
    voices = [Voice.of(segments[i]) for i in long]
    costs = np.full((len(long), len(long)), np.inf)   # upper triangle: cost of merging groups g < h

    def update(g: int) -> None:
        for k in range(len(long)):
            if k != g and members[k]:
                costs[min(g, k), max(g, k)] = distance(voices[g], voices[k]) * (voices[g].n + voices[k].n)

    for g in range(len(long)):
        update(g)
    for _ in range(len(long) - 2):
        g, h = np.unravel_index(int(np.argmin(costs)), costs.shape)
        members[g], voices[g], members[h] = members[g] + members[h], voices[g] + voices[h], []
        costs[h, :] = costs[:, h] = np.inf
        update(g)
    first, second = [g for g in range(len(long)) if members[g]]
    voice_a, voice_b = voices[first], voices[second]
    if distance(voice_a, voice_b) < options.speaker_distance:
        return np.zeros(len(segments), int)
    labels = np.full(len(segments), -1)
    labels[members[first]] = 0
    labels[members[second]] = 1
    return relabel(segments, labels)


def relabel(segments: list[np.ndarray], labels: np.ndarray, rounds: int = 10) -> np.ndarray:
    """Each segment to the speaker whose Gaussian (over all of that speaker's frames) explains it best, until stable.

    Pairwise distances are noisy for short segments; a speaker's pooled frames
    describe the voice better, so the grouping is refined against them, and the
    segments still unlabelled (-1: too short to cluster) get their label this way.
    """
    for _ in range(rounds):
        models = [Voice.of(np.vstack([s for s, k in zip(segments, labels) if k == c])).gaussian() for c in (0, 1)]
        new = np.array([int(np.argmax([log_likelihood(s, *m) for m in models])) if len(s) else max(k, 0)
                        for s, k in zip(segments, labels)])
        if np.array_equal(new, labels) or len(set(new)) < 2:
            break
        labels = new
    labels = np.maximum(labels, 0)
    return labels if labels[0] == 0 else 1 - labels


def log_likelihood(frames: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> float:
    """Mean log-likelihood of frames under a Gaussian (constant terms left out)."""
    d = frames - mean
    return float(-0.5 * (np.einsum("ij,jk,ik->i", d, np.linalg.inv(cov), d).mean() + np.linalg.slogdet(cov)[1]))


def pauses(frames: np.ndarray, spans: list[tuple[float, float]], options: SpeakerOptions) -> list[list[float]]:
    """Times inside each span where the voice resumes after a pause longer than `pause_s` (where a turn
    may change): the spans' webrtcvad frames, with a shorter merge gap than the spans'."""
    fine = vad.frames_to_spans(frames, vad.FRAME_MS / 1000, options.pause_s, 0.0)
    return [[float(s) for s, _ in fine if start < s < end] for start, end in spans]


def diarize(x: np.ndarray, rate: int, frames: np.ndarray, options: SpeakerOptions) -> list[dict]:
    """Turns of a mono recording, each with `cluster` 0 (who speaks first) or 1.

    Each VAD span (from `frames`, the recording's webrtcvad decisions) is cut at the
    pauses inside it that change the speaker, the pieces are clustered, and neighbouring
    pieces of one cluster with no pause between them become one turn.
    """
    spans = speech_spans(frames, options)
    if not spans:
        return []
    feats, energy = cepstra(x, rate, options)
    feats = (feats - feats.mean(axis=0)) / np.maximum(feats.std(axis=0), 1e-9)
    pieces, segments = [], []
    for (start, end), idx, inner in zip(spans, span_frames(spans, energy, options), pauses(frames, spans, options)):
        candidates = [int(np.searchsorted(idx, t / FRAME_S)) for t in inner]
        cuts = [0, *change_points(feats[idx], candidates, options), len(idx)]
        bounds = [start, *(float(idx[c]) * FRAME_S for c in cuts[1:-1]), end]
        for (a, b), (lo, hi) in zip(zip(bounds, bounds[1:]), zip(cuts, cuts[1:])):
            pieces.append((round(a, 3), round(b, 3)))
            segments.append(feats[idx[lo:hi]])
    return join_turns(pieces, cluster(segments, options), 0)


def join_turns(spans: list[tuple[float, float]], labels: np.ndarray, channel: int) -> list[dict]:
    """Consecutive pieces of the same label, with no pause between them, as one turn."""
    turns: list[dict] = []
    for (start, end), label in zip(spans, labels):
        if turns and turns[-1]["cluster"] == int(label) and turns[-1]["end"] == start:
            turns[-1]["end"] = end
        else:
            turns.append({"start": start, "end": end, "channel": channel, "cluster": int(label)})
    return turns


# --- roles --------------------------------------------------------------------------------

def speech_spans(frames: np.ndarray, options: SpeakerOptions) -> list[tuple[float, float]]:
    """Unpadded VAD speech of one channel (its webrtcvad frames): turn boundaries where the voice
    really starts and stops."""
    spans = vad.frames_to_spans(frames, vad.FRAME_MS / 1000, options.merge_gap_s, options.min_speech_s)
    return [(round(float(s), 3), round(float(e), 3)) for s, e in spans]


def overlap(a_start: float, a_end: float, b_start: float, b_end: float) -> float:
    return max(0.0, min(a_end, b_end) - max(a_start, b_start))


def dominant(turns: list[dict], key: str, start: float, end: float, channel: int | None = None) -> object | None:
    """The `key` value of the turns covering most of [start, end] (on `channel` when given), or None."""
    time: Counter = Counter()
    for turn in turns:
        if channel is None or turn["channel"] == channel:
            time[turn[key]] += overlap(start, end, turn["start"], turn["end"])
    best = time.most_common(1)
    return best[0][0] if best and best[0][1] > 0 else None


def agent_word_counts(segments: list[dict], key_of) -> Counter:
    """How often each speaker key (`key_of(segment)`) says one of AGENT_WORDS."""
    counts: Counter = Counter()
    for segment in segments:
        key = key_of(segment)
        if key is not None:
            counts[key] += sum((segment.get("text") or "").count(word) for word in AGENT_WORDS)
    return counts


def infer_agent(keys: list, first: object, counts: Counter) -> object:
    """The key that says the most agent words; on a tie the one who spoke first."""
    return max(keys, key=lambda k: (counts.get(k, 0), k == first))


def assign_roles(samples: np.ndarray, rate: int, segments: list[dict], meta_row: dict | None,
                 options: SpeakerOptions) -> tuple[dict, list[dict]]:
    """Label every segment's `speaker` in place; return the roles evidence and the speaker turns.

    Turns are `{start, end, channel, speaker}`, unpadded, in time order; they are
    what the conversation metrics are measured on. The evidence says how the agent
    was found: `method` metadata/option/inferred, the agent's channel (stereo) or
    the split's clusters (mono), who spoke first and the agent words per candidate.
    """
    stereo = samples.shape[0] > 1
    frames = [vad.speech_frames(channel, rate, options.vad_aggressiveness) for channel in samples]
    if stereo:
        turns = [{"start": s, "end": e, "channel": ch, "cluster": ch}
                 for ch in range(samples.shape[0]) for s, e in speech_spans(frames[ch], options)]
    else:
        turns = diarize(samples[0], rate, frames[0], options)
    turns.sort(key=lambda t: (t["start"], t["channel"]))
    keys = list(range(samples.shape[0])) if stereo else sorted({t["cluster"] for t in turns})
    for segment in segments:
        channel = segment.get("channel", 0)
        segment["_cluster"] = (channel if stereo
                               else dominant(turns, "cluster", segment["start"], segment["end"], channel))
    counts = agent_word_counts(segments, lambda s: s["_cluster"])
    first = turns[0]["cluster"] if turns else None
    given = (meta_row or {}).get("agent_channel")
    roles = {"method": "inferred", "channels": int(samples.shape[0]), "first_speaker": first,
             "agent_words": {str(k): counts.get(k, 0) for k in keys}}
    if stereo and given not in (None, ""):
        agent, roles["method"] = int(given), "metadata"
    elif stereo and options.agent_channel is not None:
        agent, roles["method"] = options.agent_channel, "option"
    else:
        agent = infer_agent(keys, first, counts) if keys else None
    roles["agent_channel" if stereo else "agent_cluster"] = agent
    role_of = {k: AGENT if k == agent else CUSTOMER for k in keys}
    if len(keys) == 1 and not stereo:
        role_of = {keys[0]: UNKNOWN}   # one voice only: nothing says whose it is
    for turn in turns:
        turn["speaker"] = role_of[turn.pop("cluster")]
    for segment in segments:
        role = role_of.get(segment.pop("_cluster"), UNKNOWN)
        if not stereo:
            segment["split_speaker"] = role
        segment["speaker"] = role if stereo or options.trust_mono_split else UNKNOWN
    return roles, turns
