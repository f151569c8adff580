"""`callaudit scan`: one module per stage, from a recording file to its record.

decode → vad → transcribe (with `recovery` of quiet or missed speech) → speakers →
classify → match (pinyin-aware `phrase_align` of the `rules` that `phrase_catalog` and
`rule_yaml` load) → credit → delivery → conversation → splice (a package of detectors
and the fusion that decides) → clips → outputs and report. `analyser` wires the stages
for one recording; `engine` runs the scan loop over `discovery`'s recordings, caching
by content (`cache_keys`) and handing the misses to `workers` (local processes) or
`distributed` (Ray); `options` is what a scan is asked to do. Stages take and return
plain data (dataclasses, the dicts of `core.schema`); none writes files except
outputs, clips and report.
"""
