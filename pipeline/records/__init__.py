"""`callaudit records`: check call-detail record exports before they go to the regulator.

`read` streams CSV/XLSX exports of any encoding into polars, `check` validates each
row's six fields, `stats` computes coverage and connect/short-call ratios, `abnormal`
finds abnormal calling, `config` reads phrases/records.yaml, `command` runs them and
writes issues.csv, summary.json, records.html (`html_report`) and the workbook.
Recordings are never opened here.
"""
