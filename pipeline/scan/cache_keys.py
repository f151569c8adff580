"""What a stored transcript or record depends on: the cache keys and the provenance block.

Each level hashes the source of the modules it runs (and of the engine code that wires
them), so a change to the checks re-checks the archive without transcribing it again,
and a change to the outputs re-does neither. Pure functions of options and code: they
never read recordings or the catalog database.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import inspect
from dataclasses import asdict
from pathlib import Path

from pipeline.core import catalog as catalog_mod
from pipeline.core import errors, redact, schema
from pipeline.core import meta as meta_mod
from pipeline.integrity import containers, custody, mp3frames, signature
from pipeline.scan import (
    analyser,
    classify,
    conversation,
    credit,
    decode,
    delivery,
    levels,
    match,
    mono_split,
    phrase_align,
    phrase_catalog,
    pinyin,
    prohibited,
    prohibited_rules,
    recovery,
    roles,
    rule_yaml,
    rules,
    speakers,
    splice,
    transcribe,
    vad,
)
from pipeline.scan import options as options_mod
from pipeline.scan.options import ScanOptions, effective_options

# The transcript stage's own wiring is `Analyser.transcript_stage` alone (hashed by its source):
# the rest of `analyser` wires the checks, whose edits must not cost a re-transcription.
TRANSCRIPT_MODULES = (decode, vad, levels, recovery, transcribe, errors)
CHECK_MODULES = (decode, levels, match, phrase_align, pinyin, classify, rules, rule_yaml, phrase_catalog, delivery,
                 splice, meta_mod, redact, errors, schema, speakers, mono_split, roles, credit, prohibited,
                 prohibited_rules, conversation, options_mod, analyser, custody, signature, containers, mp3frames)


def callaudit_version() -> str:
    try:
        return importlib.metadata.version("callaudit")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree that was never installed
        return "0+unknown"


def _module_sources(module) -> list[Path]:
    """The files of a module, or of every module of a package (the splice detectors are one)."""
    path = Path(module.__file__)
    return sorted(path.parent.rglob("*.py")) if path.name == "__init__.py" else [path]


def _code_sha(modules: tuple, *objects) -> str:
    digest = hashlib.sha256("".join(inspect.getsource(obj) for obj in objects).encode("utf-8"))
    for module in modules:
        for path in _module_sources(module):
            digest.update(path.name.encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def transcript_key(options: ScanOptions, model_sha256: str) -> str:
    """What a transcript depends on besides the recording's content (never the phrase catalog)."""
    return catalog_mod.fingerprint({
        "code": _code_sha(TRANSCRIPT_MODULES + ((redact,) if options.redact else ()), analyser.Analyser.transcript_stage),
        "model": model_sha256, "language": options.language, "beam_size": options.beam_size,
        "vad": asdict(options.vad), "max_duration_s": options.max_duration_s, "redact": options.redact,
        "quiet": [options.recovery.quiet_below_db, options.recovery.quiet_context_s],
    })


def checks_key(options: ScanOptions, catalog_sha256: str) -> str:
    """What the checks depend on besides the transcript and the call's metadata row."""
    return catalog_mod.fingerprint({
        "code": _code_sha(CHECK_MODULES),
        "version": callaudit_version(), "catalog": catalog_sha256, "options": asdict(effective_options(options)),
    })


def provenance(options: ScanOptions, model: dict) -> schema.Provenance:
    """The block every record carries: tool version, model and catalog checksums, effective options."""
    return {
        "callaudit": callaudit_version(),
        "model": {"name": model["name"], "sha256": model["sha256"]},
        "catalog": {"sha256": phrase_catalog.catalog_sha256(options.phrases_dir),
                    "files": [p.name for p in phrase_catalog.catalog_files(options.phrases_dir)]},
        "options": asdict(effective_options(options)),
    }

