"""Recording integrity (issue #25): is a recording the one the call system wrote, and what shows it?

Four layers, each saying what it proves and what it cannot: chain of custody
(`ledger`: a hash-chained, optionally signed, append-only log of every recording
the first time a scan sees it and of every later change or disappearance;
`custody`: the scan's hook that keeps it; `verify`: `callaudit verify`), format
forensics against the archive's own population (`signature`, `population`),
duration against the call-detail record (in `pipeline.package`) and the waveform
splice detectors (`pipeline.scan.splice`); `verdict` folds what was checked into
one `integrity` object per record. docs/integrity.md is the user's guide.
"""
