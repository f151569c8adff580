"""One recording to its record: the transcript stage and the checks stage, wired in order.

`Analyser` holds what a process loads once (phrase catalog, and the model when needed);
`analyse_file` turns any failure into an error record, so one file never stops a batch.
It must not look at the catalog database or write files: the scan loop (engine) does.
"""

from __future__ import annotations

import contextlib
import copy
import signal
import traceback
from dataclasses import asdict
from typing import Iterator

from pipeline.core import meta as meta_mod
from pipeline.core import redact, schema
from pipeline.core.errors import InputError
from pipeline.integrity import custody, signature
from pipeline.scan import (
    classify,
    conversation,
    decode,
    delivery,
    levels,
    match,
    phrase_catalog,
    recovery,
    roles,
    speakers,
    splice,
    transcribe,
    vad,
)
from pipeline.scan.discovery import Recording, call_id_for
from pipeline.scan.options import ScanOptions


def empty_record(rec: Recording, meta_row: dict | None) -> schema.Record:
    """The output-contract skeleton every record starts from (error records included)."""
    return {
        "file": rec.relative,
        "call_id": call_id_for(rec.relative, meta_row),
        "status": "ok",
        "error": None,
        "recording": None,
        "speech": [],
        "levels": [],
        "segments": [],
        "unrecognised_speech": [],
        "roles": None,
        "call": None,
        "annotations": [],
        "splices": [],
        "conversation": None,
        "flags": [],
    }


def crash_record(rec: Recording, options: ScanOptions, message: str) -> schema.Record:
    """The record of a recording whose worker died (a crash in native code, killed, out of memory).

    Not cached: the next scan tries the file again (the cause may have been the machine).
    """
    record = empty_record(rec, meta_mod.lookup(options.meta, rec.relative))
    record.update(status="error", error={"code": "worker_crashed", "message": message})
    return record


class Analyser:
    """Holds what is loaded once per process (catalog, and the model once needed) and analyses recordings."""

    def __init__(self, options: ScanOptions):
        self.options = options
        self.catalog = phrase_catalog.load_catalog(options.phrases_dir)
        self.cues = roles.load_cues(options.phrases_dir)
        self._model = None

    @property
    def model(self):
        """Loaded on first use: a worker that only re-checks stored transcripts never loads it."""
        if self._model is None:
            self._model = transcribe.load_model(self.options.model, cpu_threads=self.options.cpu_threads)
        return self._model

    def analyse_file(self, rec: Recording) -> tuple[schema.Record, schema.Transcript | None]:
        """(record, transcript) of one recording; any failure becomes an error record.

        With `rec.transcript` only the checks run. The transcript comes back for the
        catalog (None when the transcript stage failed); with --redact it is masked
        like the record. A file that takes longer than its time limit (a fixed
        allowance plus one in proportion to its duration) gets error code `timeout`.
        """
        meta_row = meta_mod.lookup(self.options.meta, rec.relative)
        record = empty_record(rec, meta_row)
        transcript = rec.transcript
        try:
            if transcript is None:
                with time_limit(self.options.time_limit_s):
                    info = decode.probe(rec.path, self.options.max_duration_s, sha256=rec.sha256)
                record["recording"] = asdict(info)
            else:  # what probe said: the declared duration
                stored = transcript["recording"]
                info = decode.RecordingInfo(**{**stored, "duration_s": stored["declared_duration_s"]})
            with time_limit(self.options.time_limit_s + self.options.time_limit_per_audio_s * info.duration_s):
                audio = decode.decode(rec.path, info=info, max_duration_s=self.options.max_duration_s)
                if transcript is None:
                    transcript = self.transcript_stage(audio)
                record.update(copy.deepcopy(transcript))
                record["recording"]["audio_sha256"] = custody.audio_sha256(audio.samples, audio.sample_rate)
                record["format"] = signature.format_signature(rec.path)
                record.update(self.checks_stage(rec, info, audio, transcript, meta_row))
        except InputError as exc:
            record.update(status="error", error=exc.as_dict())
        except Exception as exc:  # a bug on one file must not stop an archive scan
            record.update(status="error", error={
                "code": "internal_error",
                "message": f"{type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(limit=5),
            })
        if self.options.redact:
            redact.redact_record(record)
            if transcript is not None:
                redact.redact_segments(transcript["segments"], redact.kept_numbers(record))
        return record, transcript

    def transcript_stage(self, audio: decode.Audio) -> schema.Transcript:
        """VAD -> quiet-speech boost -> ASR: everything the checks need that costs the ASR.

        Levels are measured on the first-pass VAD speech (as the delivery check needs
        them); `speech` is the VAD speech after the boost.
        """
        samples, rate = audio.samples, audio.sample_rate
        speech = vad.detect_speech(samples, rate, self.options.vad)
        reference = levels.reference_levels(samples, rate, speech)
        boosted, speech, raised = recovery.boost_quiet(samples, rate, speech, reference, self.options.recovery,
                                                       self.options.vad)
        asr = transcribe.TranscribeOptions(language=self.options.language, beam_size=self.options.beam_size)
        heard = transcribe.transcribe(self.model, boosted, rate, speech, asr)
        return {"recording": asdict(audio.info), "speech": [asdict(s) for s in speech],
                "levels": levels.to_plain(reference), "segments": recovery.mark_recovered(heard.segments, raised),
                "unrecognised_speech": heard.unrecognised_speech}

    def checks_stage(self, rec: Recording, info: decode.RecordingInfo, audio: decode.Audio,
                     transcript: schema.Transcript, meta_row: dict | None) -> dict:
        """roles -> classify -> match -> delivery -> splices -> conversation, from a transcript and the audio.

        Returns the record's `segments` (a copy of the transcript's, each with its
        `speaker`), `roles`, `call`, `annotations`, `splices`, `conversation` and `flags`.
        """
        samples, rate = audio.samples, audio.sample_rate
        speech = [vad.SpeechSegment(**s) for s in transcript["speech"]]
        segments = copy.deepcopy(transcript["segments"])
        roles, turns = speakers.assign_roles(samples, rate, segments, meta_row, self.options.speakers, self.cues)
        fast = delivery.fast_speech(samples, rate, speech, segments, self.options.recovery.fast_min_rate)
        call = classify.classify_call(segments, self.catalog, meta_row)
        annotations, flags = match.check_call(segments, call, self.catalog, delivery.segments_inside(fast, segments),
                                              self.options.match, self.cues)
        annotations, flags = delivery.assess(annotations, flags, self.catalog, samples, rate,
                                             levels.from_plain(transcript["levels"]), fast)
        match.point_to_unrecognised(flags, transcript.get("unrecognised_speech", []))
        splices = splice.detect_splices(rec.path, info, audio, speech, self.options.splice,
                                        self.options.max_duration_s)
        talk = conversation.measure(turns, audio.info.duration_s, samples.shape[0] > 1)
        return {"segments": segments, "roles": roles, "call": call, "annotations": annotations, "splices": splices,
                "conversation": talk,
                "flags": flags + splice.splice_flags(splices) + conversation.flags(talk, self.catalog.conversation)}


@contextlib.contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise InputError('timeout') in this (main) thread after `seconds`.

    SIGALRM interrupts between Python bytecodes: the ASR stage returns to Python
    after every batch of windows, so a pathological file is stopped within one batch.
    """
    def expire(signum, frame):
        raise InputError("timeout", f"analysis took longer than its limit of {seconds:.0f} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)

