"""`callaudit scan`: one module per stage, from a recording file to its record.

decode → vad → transcribe (with `recovery` of quiet or missed speech) → speakers →
match/rules (statement location by meaning) → credit → delivery → conversation →
splice (a package of detectors and the fusion that decides) → clips → outputs and
report; `engine` wires the stages per recording, caches by content and runs workers;
`distributed` is the Ray backend it can be handed. Stages take and return plain data
(dataclasses, the dicts of `core.schema`); none writes files except outputs, clips
and report.
"""
