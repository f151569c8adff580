"""The record of a call: every type a stage writes into it, in one place.

Each stage returns plain dicts of these shapes (TypedDicts: no conversion, no
runtime cost), and the record is their union. `record_json_schema()` turns them
into the JSON Schema committed as docs/record.schema.json (regenerate with
`python -m pipeline.core.schema > docs/record.schema.json`); the tests check the
committed file is current and that every record of the fixture scan validates.
Optional keys are `NotRequired`; a key that may hold null says `| None`.
Types only: no stage logic, and no import of a stage beyond its option dataclasses.
"""

import dataclasses
import json
import sys
import types
import typing
from typing import Any, Literal, Union

from typing_extensions import NotRequired, TypedDict, get_type_hints, is_typeddict

from pipeline.scan.match import MatchOptions
from pipeline.scan.recovery import RecoveryOptions
from pipeline.scan.speakers import SpeakerOptions
from pipeline.scan.splice import SpliceOptions
from pipeline.scan.vad import VadOptions

Problem = Literal["missing", "late", "too_fast", "inaudible", "splice", "needs_review", "long_silence", "integrity",
                  "prohibited"]
Speaker = Literal["agent", "customer", "unknown"]


class Span(TypedDict):
    """A stretch of one channel, in seconds from the start of the recording."""

    start: float
    end: float
    channel: int


class Word(TypedDict):
    start: float
    end: float
    word: str
    probability: float
    speaker: NotRequired[Speaker]   # mono: the split voice's role under the word (a segment may span turns)


class Segment(TypedDict):
    """One transcribed utterance (Simplified characters), with word timestamps."""

    start: float
    end: float
    channel: int
    text: str
    words: list[Word]
    recovered: NotRequired[Literal["gain"]]  # heard only after the quiet-speech boost
    speaker: NotRequired[Speaker]            # set by the checks (pipeline.speakers, pipeline.roles on mono)


class ChannelLevel(TypedDict):
    """A channel's reference levels: median speech level and noise floor (dBFS)."""

    channel: int
    speech_dbfs: float
    noise_dbfs: float


class RecordingInfo(TypedDict):
    duration_s: float
    declared_duration_s: float
    sample_rate: int
    channels: int
    codec: str
    container: str
    sha256: str
    audio_sha256: NotRequired[str]     # sha256 of the decoded samples (pipeline.integrity.custody.audio_sha256)


class Transcript(TypedDict):
    """What the transcript stage produces (decode, VAD, quiet boost, ASR) and the catalog caches.

    Every key of it is copied into the record, so a field added here reaches the
    record without further wiring.
    """

    recording: RecordingInfo
    speech: list[Span]                 # VAD speech, after the quiet boost
    levels: list[ChannelLevel]         # measured on the first-pass VAD speech
    segments: list[Segment]
    unrecognised_speech: NotRequired[list[Span]]  # speech the ASR could not transcribe


class Call(TypedDict):
    """The call's type and industry, where they came from, and how sure the inference is."""

    type: str
    industry: str
    source: Literal["metadata", "inferred"]
    evidence: list[str]
    confidence: Literal["metadata", "high", "low"]
    alternatives: dict[str, list[str]]  # per low value ("type"/"industry"): the classes it may be instead


class Annotation(TypedDict):
    """A located statement with its delivery measurements and, once cut, its clip."""

    rule: str
    label: str
    start: float
    end: float
    channel: int
    speaker: Speaker
    text: str
    matched_phrase: str
    score: float
    fields: dict[str, str]
    concepts: dict[str, str]           # found by meaning: the keyword heard for each group; else {}
    credited: bool                     # counts for its rule (pipeline.credit)
    # why not: said by the wrong party, nobody could tell who (speaker_unknown), asked, denied; a prohibited
    # wording also quoted or excused (`unless`)
    not_credited: list[Literal["customer", "agent", "speaker_unknown", "question", "negated", "quoted", "excepted"]]
    speech_rate_cps: float
    acoustic_rate_sps: float
    level_dbfs: float
    snr_db: float
    relative_level_db: float
    audible: bool
    rate_ok: bool
    clip: NotRequired[str]
    clip_error: NotRequired[str]


class Roles(TypedDict):
    """Who the agent is and how sure (pipeline.speakers.assign_roles; mono: pipeline.roles)."""

    method: Literal["metadata", "option", "inferred", "split+cues"]
    channels: int
    first_speaker: int | None          # the channel (stereo) or split voice (mono) heard first
    confidence: float                  # 0-1: metadata/option 1; inferred from the words' margin (and mono: the split)
    agent_channel: NotRequired[int | None]         # stereo
    agent_words: NotRequired[dict[str, int]]       # stereo: AGENT_WORDS per channel
    agent_cluster: NotRequired[int | None]         # mono: the agent's split voice, None when unknown
    speakers: NotRequired[int]                     # mono: voices found (0: no speech, 1: the one-speaker test said one)
    separation: NotRequired[float | None]          # mono: distance between the two voices (see SpeakerOptions)
    turns_per_voice: NotRequired[list[int]]        # mono: segments of min_segment_s per voice
    evidence: NotRequired[float]                   # mono: cue weight for voice 0 being the agent, less voice 1's
    talk_evidence: NotRequired[float]              # mono: the part of it from voice 0 talking more (talk_weight)
    cue_weights: NotRequired[dict[str, dict[str, float]]]   # mono: per voice, its agent and customer cue weight
    # mono: the split's voices named by their cues, its two-way guess named because one voice said both
    # parties' words, or each turn by its own cues (pipeline.scan.speakers.mono_roles)
    named_by: NotRequired[Literal["voices", "words", "turns"]]


class Conversation(TypedDict):
    """The shape of the call (pipeline.conversation): seconds, by role from pipeline.speakers."""

    talk_s: dict[str, float]           # agent, customer, unknown
    agent_talk_ratio: float | None
    longest_silence_s: float
    longest_silence_at: float | None
    total_silence_s: float
    overtalk_count: int | None         # stereo only
    overtalk_s: float | None
    agent_interruptions: int | None    # mono: agent turns taken over within takeover_gap_s of a customer's
    overtalk_unmeasured: NotRequired[str]   # mono: why overtalk is null


class Splice(TypedDict):
    time: float
    score: float
    detectors: list[str]
    evidence: dict[str, Any]
    clip: NotRequired[str]
    clip_error: NotRequired[str]


class Flag(TypedDict):
    """A problem for a reviewer; `channel` None means the whole call (missing, splice)."""

    problem: Problem
    rule: str | None
    start: float | None
    end: float | None
    channel: int | None
    message: str
    clip: NotRequired[str]             # prohibited: the clip of the statement (pipeline.scan.prohibited)
    about: NotRequired[Literal["speaker"]]   # needs_review because nobody could tell who said it (pipeline.credit)


# -- recording integrity (pipeline.integrity) ---------------------------------------
IntegrityVerdict = Literal["intact_as_far_as_checked", "suspect", "modified_after_capture", "not_checked"]
IntegrityLayerName = Literal["custody", "format", "waveform", "duration"]


class Fingerprint(TypedDict):
    """A recording as one scan found it: size, sha256 of the bytes and of the decoded audio, when."""

    size: int | None
    sha256: str
    audio_sha256: str | None
    seen_at: str | None                # ISO 8601 UTC


class ModifiedAfterCapture(TypedDict):
    """The recording's bytes differ from those the ledger recorded when a scan first saw it."""

    first: Fingerprint
    current: Fingerprint
    audio_changed: bool | None         # False: only tags/container changed; None: an audio hash is missing
    entries: list[int]                 # the ledger's `modified` entries (line numbers from 0)


class IntegrityLayer(TypedDict):
    """One layer's finding: what it found, what that proves and what it cannot."""

    layer: IntegrityLayerName
    result: Literal["pass", "suspect", "modified", "not_checked"]
    proves: str
    cannot: str
    evidence: dict[str, Any]


class Integrity(TypedDict):
    """The one integrity verdict of a recording (pipeline.integrity.verdict), from the layers checked."""

    verdict: IntegrityVerdict
    layers_checked: list[IntegrityLayerName]
    layers: list[IntegrityLayer]
    modified_after_capture: ModifiedAfterCapture | None


class Error(TypedDict):
    code: str
    message: str
    traceback: NotRequired[str]


class ModelIdentity(TypedDict):
    name: str
    sha256: str


class CatalogIdentity(TypedDict):
    sha256: str
    files: list[str]


@dataclasses.dataclass(frozen=True)
class EffectiveOptions:
    """The settings a record was produced with (ScanOptions less what cannot change a result)."""

    language: str
    beam_size: int
    max_duration_s: float
    redact: bool
    vad: VadOptions
    recovery: RecoveryOptions
    match: MatchOptions
    splice: SpliceOptions
    speakers: SpeakerOptions


class Provenance(TypedDict):
    """What produced a record: tool version, model and catalog checksums, effective options."""

    callaudit: str
    model: ModelIdentity
    catalog: CatalogIdentity
    options: EffectiveOptions


class Record(TypedDict):
    """One call: the transcript stage's fields, then the checks', then provenance."""

    file: str
    call_id: str
    status: Literal["ok", "error"]
    error: Error | None
    recording: RecordingInfo | None
    speech: list[Span]
    levels: list[ChannelLevel]
    segments: list[Segment]
    unrecognised_speech: NotRequired[list[Span]]
    roles: Roles | None                # how the agent was found and how sure
    call: Call | None
    annotations: list[Annotation]
    splices: list[Splice]
    conversation: Conversation | None
    flags: list[Flag]
    provenance: Provenance   # stamped by the scan on every record it writes
    format: NotRequired[dict[str, Any] | None]  # the file's format signature (pipeline.integrity.signature)
    integrity: NotRequired[Integrity]  # set at the end of each scan over the whole archive (pipeline.integrity)


# -- JSON Schema -------------------------------------------------------------------
_PLAIN = {str: "string", int: "integer", float: "number", bool: "boolean", type(None): "null"}


def _schema_of(tp, defs: dict) -> dict:
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if tp in _PLAIN:
        return {"type": _PLAIN[tp]}
    if tp is Any:
        return {}
    if origin is Literal:
        return {"enum": list(args)}
    if origin in (Union, types.UnionType):
        return {"anyOf": [_schema_of(a, defs) for a in args]}
    if origin is list:
        return {"type": "array", "items": _schema_of(args[0], defs)}
    if origin is dict:
        return {"type": "object", "additionalProperties": _schema_of(args[1], defs)}
    if is_typeddict(tp) or dataclasses.is_dataclass(tp):
        if tp.__name__ not in defs:
            defs[tp.__name__] = {}  # placeholder: recursion-safe
            defs[tp.__name__] = _object_schema(tp, defs)
        return {"$ref": f"#/$defs/{tp.__name__}"}
    raise TypeError(f"no JSON Schema for {tp!r}")


def _object_schema(cls, defs: dict) -> dict:
    hints = get_type_hints(cls)
    if dataclasses.is_dataclass(cls):
        required = [f.name for f in dataclasses.fields(cls)]
    else:
        required = [k for k in hints if k in cls.__required_keys__]
    out = {"type": "object", "properties": {k: _schema_of(v, defs) for k, v in hints.items()},
           "required": required, "additionalProperties": False}
    if cls.__doc__ and not cls.__doc__.startswith(cls.__name__ + "("):  # dataclasses invent a doc
        out["description"] = " ".join(cls.__doc__.split())
    return out


def record_json_schema() -> dict:
    """The JSON Schema (draft 2020-12) of a call record, from the types above."""
    defs: dict = {}
    top = _object_schema(Record, defs)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "title": "callaudit call record",
            **top, "$defs": dict(sorted(defs.items()))}


if __name__ == "__main__":
    sys.stdout.write(json.dumps(record_json_schema(), indent=1, ensure_ascii=False) + "\n")
