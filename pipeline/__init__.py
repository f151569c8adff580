"""callaudit: batch-scan call-center recording archives for regulatory compliance, offline.

One subpackage per command, over a small shared core:

* `pipeline.scan`    `callaudit scan` (and `report`, `flags`): decode, VAD, Whisper, statement
  matching, delivery, speakers, splice detectors, clips, per-call outputs, the engine.
* `pipeline.records` `callaudit records`: the call-detail record check.
* `pipeline.package` `callaudit package`: the inspection package a regulator receives.
* `pipeline.serve`   `callaudit serve` (and `users`): the review workbench.
* `pipeline.core`    what every command shares: the record schema, the SQLite catalog,
  reviewers' decisions, settings files, atomic files, errors, redaction, metadata, the model.

`pipeline.cli` only wires these together. A subpackage may use `core` and the commands
whose results it consumes (package reads scan and records results, serve shows scan
results); `core` uses no command's code except the scan stages' option dataclasses
that travel inside a record's provenance.
"""
