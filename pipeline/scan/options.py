"""What a scan is asked to do: `ScanOptions`, and the part of it that can change a record.

Plain option dataclasses only; the stage options are defined (and documented) by their
stages. Nothing here runs a stage, reads a recording or touches the output folder.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pipeline.core import schema
from pipeline.scan import decode
from pipeline.scan.match import MatchOptions
from pipeline.scan.recovery import RecoveryOptions
from pipeline.scan.speakers import SpeakerOptions
from pipeline.scan.splice import SpliceOptions
from pipeline.scan.vad import VadOptions

DEFAULT_PHRASES_DIR = Path(__file__).resolve().parents[2] / "phrases"


@dataclass
class ScanOptions:
    """Everything a worker needs to analyse a recording; picklable for worker processes.

    The stage options are documented where they are defined (vad.VadOptions,
    recovery.RecoveryOptions, match.MatchOptions, splice.SpliceOptions,
    speakers.SpeakerOptions); they and the
    ASR settings travel with every record (`provenance.options`).
    """

    model: str | None = None             # None/"default", a CTranslate2 model folder, or a cached model name
    language: str = "zh"
    beam_size: int = 5
    vad: VadOptions = field(default_factory=VadOptions)
    recovery: RecoveryOptions = field(default_factory=RecoveryOptions)
    match: MatchOptions = field(default_factory=MatchOptions)
    splice: SpliceOptions = field(default_factory=SpliceOptions)
    speakers: SpeakerOptions = field(default_factory=SpeakerOptions)
    phrases_dir: str = str(DEFAULT_PHRASES_DIR)
    workers: int = 1
    cpu_threads: int = 0
    meta: dict[str, dict] = field(default_factory=dict)
    redact: bool = False
    max_duration_s: float = decode.MAX_DURATION_S
    time_limit_s: float = 300.0          # per file, plus `time_limit_per_audio_s` per second of audio
    time_limit_per_audio_s: float = 1.0  # 1 s per audio second is ~5x the normal real-time factor
    address: str | None = None           # with the Ray backend: cluster to join (HOST:6379); None starts one


def effective_options(options: ScanOptions) -> schema.EffectiveOptions:
    """The options that can change a record (not workers, backend, time limits, metadata)."""
    return schema.EffectiveOptions(
        language=options.language, beam_size=options.beam_size, max_duration_s=options.max_duration_s,
        redact=options.redact, vad=options.vad, recovery=options.recovery, match=options.match,
        splice=options.splice, speakers=options.speakers)

