"""Splice detection: find places where a recording may have been cut or had audio inserted.

Complaint recordings must be unedited. This package holds training-free signal
detectors, one per module, each a pure function over samples that yields a score
track on a common 10 ms grid (grid.GRID_S), normalised against the recording's own
statistics (robust z-score: (v - median) / (1.4826 MAD)); `fusion` divides each by
its calibrated threshold, fuses them by the maximum and picks every local maximum
at or above 1.0 (one per second at most) as a splice candidate; `stage` is the
scan's entry point (the only module that decodes). A candidate is for human review,
never proof of tampering.

Primary detectors (parameters and blind spots in their docstrings):

* ``duration``      container duration vs decoded sample count
* ``g711``          G.711 audio kept as PCM/FLAC: edges of off-grid stretches
* ``pause_step``    background step between the two halves of a pause (inserts)
* ``enf``           mains-hum phase discontinuity, only when hum is present

Supporting evidence only (never raise a flag on their own; fusion.SUPPORT and the
figures beside it): ``lpc_residual`` (LPC-residual impulses: real speech and real
line glitches score as high as cuts), ``silence`` (digital silence runs) and
``dc_step`` (VoIP comfort noise and recorder silence compression produce them in
genuine calls), ``broadband`` (broadband burst in short STFT frames) and
``noise_floor`` (background floor / colour change point), which fire on clean calls
at the levels where they would catch anything.

On real speech (fixtures/real, docs/checks.md "Splices") these detectors find few edits: an
insert from another quiet recording, a hard cut inside speech and a crossfaded cut in
a pause leave no background step, hum or grid trace there. The thresholds are set so
that genuine recordings raise no flag, the first requirement for a flag on a complaint
recording to mean anything. Not found by any detector: a hard cut inside speech in a
recording without mains hum (see lpc_residual). Not implemented and tried-and-dropped
approaches are recorded where they belong (g711: MP3 frame grid, recompression
consistency; lpc_residual: pitch-period continuity; broadband: spectral-change contrast).

The package exports only the stage's API (what the engine and schema use); callers
that need a detector or the fusion import its module.
"""

from pipeline.scan.splice.stage import SpliceOptions, detect_splices, splice_flags

__all__ = ["SpliceOptions", "detect_splices", "splice_flags"]
