"""`callaudit package`: the inspection package, one folder per record category.

`inputs` reads the center's exports (CDR, consent, complaint handling, agent register),
`link` ties CDR rows to scanned recordings, `consent`, `complaints` and `agents` check
one category each, `join` runs them all over the inputs, `findings` gathers every flag
with its review state, `folders` writes each category's folder (`masker` applies
--redact), `readiness` writes readiness.html, `config` reads phrases/package.yaml and
`build` assembles the package with its manifest. It consumes scan and records
results; it never transcribes.
"""
