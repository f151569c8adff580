"""The mono split: a one-channel recording's speech into turns of two voices, and whether they are two people.

Training-free and without downloads (a speaker-embedding model would need
weights fetched at run time or torch): mel cepstra describe the voice every
10 ms; each unpadded VAD span is cut at the pauses inside it where the voices on
either side differ (a full-covariance Gaussian likelihood-ratio distance, as in
BIC speaker segmentation); the pieces are clustered bottom-up into two voices; a
refinement pass gives every piece to the voice whose pooled Gaussian explains it
best; runs of one voice are turns. A one-speaker test (each voice heard at least
twice, and further apart than any one-speaker recording measured: SpeakerOptions)
says whether the two voices are two people. Turns change only at pauses (a change
without any pause is missed), and overlapping speech gets one label.
It names no roles (pipeline.scan.speakers does) and never reads the transcript.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from pipeline.scan import vad

FRAME_S = 0.01   # hop of the cepstral frames


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
    `distance`) is the distance at which a pause inside a span is a change of
    speaker (measured: the two speakers of every two-speaker call 0.19 to 1.03
    apart; cutting a little too often costs nothing, the clustering joins the pieces).

    One speaker or two (`one_speaker`): the two voices left by the clustering
    are two speakers only when each is heard in at least `min_turns_per_speaker`
    segments of `min_segment_s` (a party to a conversation speaks more than once;
    one odd sentence of a read clip does not make a second speaker) and they are
    at least `two_speaker_distance` apart. Calibrated on 17 real one-speaker
    recordings and 4 one-speaker layouts against 6 real two-speaker mixes, each
    also through μ-law, GSM and MP3 (fixtures/speaker_calibration.py, the line
    chosen by leave-one-source-out): the one-speaker recordings with enough turns
    lay 0.15 to 0.34 apart, the real two-speaker mixes 0.50 to 1.03; the line is
    the middle of that gap, 0.42 (0.08 either side). TTS fixtures, whose customer
    is the agent's voice pitch-shifted, lie 0.20 to 0.74: the few under the line
    are called one speaker and get one role (docs/speakers.md).

    Roles (pipeline.scan.roles): a voice's cues (phrases/speaker_cues.yaml) must
    differ from the other voice's by `min_role_evidence` (cue weight: one
    introduction with a certificate number, or two polite 您) to name the roles,
    else they stay unknown; `evidence_scale` sets how fast the confidence rises
    with the evidence. Turn-taking counts `talk_weight` at most (all the talk
    one voice's; a 70/30 call ±0.8): the agent of a service or sales call talks
    most, but a complaining customer may not, so it only tips a near tie.
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
    two_speaker_distance: float = 0.42
    min_turns_per_speaker: int = 2
    min_role_evidence: float = 2.0
    evidence_scale: float = 3.0
    talk_weight: float = 2.0

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


def cluster(segments: list[np.ndarray], options: SpeakerOptions) -> tuple[np.ndarray, dict]:
    """Label segments 0/1 by agglomerative clustering, with the one-speaker test's figures (`separation`).

    The labels are the best split into two even where the test says one speaker:
    the words may still show a dialogue (pipeline.scan.roles), and then the split's
    guess is all there is to tell the parties apart.

    Segments long enough to describe a voice (`min_segment_s`) are merged, two
    groups at a time, where merging costs the least likelihood (the distance times
    the frames concerned, as in BIC clustering), until two groups are left. The
    cost grows with the frames, so a short odd segment (a cough, a question's
    rising tone) joins its nearest group instead of ending as a "speaker" of its
    own. The two groups left are refined (`relabel`); `separation` says whether
    they are two speakers. Cluster 0 is the one that speaks first.
    """
    least = int(options.min_segment_s / FRAME_S)
    long = [i for i, s in enumerate(segments) if len(s) >= least]
    if len(long) < 2:
        return np.zeros(len(segments), int), {"speakers": 1, "distance": None, "turns": [len(long), 0]}
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
    labels = np.full(len(segments), -1)
    labels[members[first]] = 0
    labels[members[second]] = 1
    labels = relabel(segments, labels)
    split = separation(segments, labels, options)
    return labels, split


def separation(segments: list[np.ndarray], labels: np.ndarray, options: SpeakerOptions) -> dict:
    """The one-speaker test: how far apart the two voices are, how often each is heard, and the verdict.

    `distance` between the voices' pooled frames, `turns` the segments of at least
    `min_segment_s` each voice has; two speakers when both are heard that often and
    the distance reaches `two_speaker_distance` (see SpeakerOptions for the calibration).
    """
    least = int(options.min_segment_s / FRAME_S)
    pooled = [[s for s, k in zip(segments, labels) if k == c and len(s)] for c in (0, 1)]
    turns = [sum(1 for s, k in zip(segments, labels) if k == c and len(s) >= least) for c in (0, 1)]
    if not all(pooled):
        return {"speakers": 1, "distance": None, "turns": turns}
    apart = distance(Voice.of(np.vstack(pooled[0])), Voice.of(np.vstack(pooled[1])))
    two = min(turns) >= options.min_turns_per_speaker and apart >= options.two_speaker_distance
    return {"speakers": 2 if two else 1, "distance": round(float(apart), 3), "turns": turns}


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


def diarize(x: np.ndarray, rate: int, frames: np.ndarray, options: SpeakerOptions) -> tuple[list[dict], dict]:
    """Turns of a mono recording, each with `cluster` 0 (who speaks first) or 1 (the best split into two),
    and the one-speaker test's figures (`speakers` 1 or 2: whether cluster 1 is another speaker).

    Each VAD span (from `frames`, the recording's webrtcvad decisions) is cut at the
    pauses inside it that change the speaker, the pieces are clustered, and neighbouring
    pieces of one cluster with no pause between them become one turn.
    """
    spans = speech_spans(frames, options)
    if not spans:
        return [], {"speakers": 0, "distance": None, "turns": [0, 0]}
    feats, energy = cepstra(x, rate, options)
    feats = (feats - feats.mean(axis=0)) / np.maximum(feats.std(axis=0), 1e-9)
    pieces, segments = [], []
    for (start, end), idx, inner in zip(spans, span_frames(spans, energy, options), pauses(frames, spans, options)):
        candidates = [int(np.searchsorted(idx, t / FRAME_S)) for t in inner]
        cuts = [0, *change_points(feats[idx], candidates, options), len(idx)]
        bounds = [start, *(float(idx[c]) * FRAME_S for c in cuts[1:-1]), end]
        for (a, b), (lo, hi) in zip(itertools.pairwise(bounds), itertools.pairwise(cuts)):
            pieces.append((round(a, 3), round(b, 3)))
            segments.append(feats[idx[lo:hi]])
    labels, split = cluster(segments, options)
    return join_turns(pieces, labels, 0), split


def join_turns(spans: list[tuple[float, float]], labels: np.ndarray, channel: int) -> list[dict]:
    """Consecutive pieces of the same label, with no pause between them, as one turn."""
    turns: list[dict] = []
    for (start, end), label in zip(spans, labels):
        if turns and turns[-1]["cluster"] == int(label) and turns[-1]["end"] == start:
            turns[-1]["end"] = end
        else:
            turns.append({"start": start, "end": end, "channel": channel, "cluster": int(label)})
    return turns

def speech_spans(frames: np.ndarray, options: SpeakerOptions) -> list[tuple[float, float]]:
    """Unpadded VAD speech of one channel (its webrtcvad frames): turn boundaries where the voice
    really starts and stops."""
    spans = vad.frames_to_spans(frames, vad.FRAME_MS / 1000, options.merge_gap_s, options.min_speech_s)
    return [(round(float(s), 3), round(float(e), 3)) for s, e in spans]
