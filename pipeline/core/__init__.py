"""What every command shares and no command owns.

The output contracts: the call record (`schema`), the package's findings
(`schema_package`) and the data-security records (`schema_datasec`); the SQLite catalog of scanned calls (`catalog`), the
reviewers' decisions and access log stored beside it (`review_store`), the handling
of abnormal-calling findings (`abnormal_store`), settings files
users edit with file:line errors (`settings`), atomic writes and content hashes
(`fileio`), the XLSX writer (`xlsx_writer`), the shared HTML look (`html_style`),
error types (`errors`), phone-number masking (`redact`), call metadata (`meta`) and
the ASR model's location and checksum (`models`). Nothing here runs a check.
"""
