"""`callaudit package`: the inspection package, one folder per record category.

`inputs` reads the center's exports (CDR, consent, complaint handling, agent register),
`link` ties CDR rows to scanned recordings, `consent`, `complaints` and `agents` check
one category each, `readiness` writes readiness.html, `config` reads
phrases/package.yaml and `build` assembles the folders, clips, workbooks and manifest.
It consumes scan and records results; it never transcribes.
"""
