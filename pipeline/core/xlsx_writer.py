"""A minimal, fast XLSX writer for large tables (the cleaned copy of millions of records).

Each sheet's XML is built column-wise by polars and streamed into the zip in
batches, the next batch built while the last one is compressed, so memory stays
at two batches and a 5-million-row workbook takes seconds, where a cell-by-cell
writer takes minutes. Text is written as inline
strings, except low-cardinality (Categorical) columns, which go to the shared
string table; numbers as numbers; datetimes as Excel date-times shown
`yyyy-mm-dd hh:mm:ss`. The header row is bold and frozen.

A table longer than a sheet holds is split over several sheets, "name", "name
(2)", ...: EXCEL_MAX_ROWS rows each, header included (tests lower it).
It writes the tables it is given; it never decides what goes in them.
"""

from __future__ import annotations

import io
import re
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from xml.sax.saxutils import escape

import polars as pl

from pipeline.core import fileio

EXCEL_MAX_ROWS = 1_048_576          # rows in one Excel sheet, the header row included
BATCH_ROWS = 200_000
EXCEL_EPOCH_DAYS = 25_569           # 1970-01-01 as an Excel serial day
MAX_NAME = 31                       # Excel's sheet-name limit
INVALID_XML = r"[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]"
NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
REL_NS = 'xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"'
STYLES = (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<styleSheet {NS}>'
          '<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy-mm-dd hh:mm:ss"/></numFmts>'
          '<fonts count="2"><font><sz val="11"/><name val="Calibri"/></font><font><b/><sz val="11"/>'
          '<name val="Calibri"/></font></fonts><fills count="2"><fill><patternFill patternType="none"/></fill>'
          '<fill><patternFill patternType="gray125"/></fill></fills><borders count="1"><border><left/><right/><top/>'
          '<bottom/><diagonal/></border></borders><cellStyleXfs count="1"><xf numFmtId="0" fontId="0" fillId="0" '
          'borderId="0"/></cellStyleXfs><cellXfs count="3"><xf numFmtId="0" fontId="0" fillId="0" borderId="0" '
          'xfId="0"/><xf numFmtId="0" fontId="1" fillId="0" borderId="0" xfId="0" applyFont="1"/>'
          '<xf numFmtId="164" fontId="0" fillId="0" borderId="0" xfId="0" applyNumberFormat="1"/></cellXfs>'
          '</styleSheet>')


def _text(expr: pl.Expr) -> pl.Expr:
    return (expr.str.replace_all(INVALID_XML, "").str.replace_all("&", "&amp;", literal=True)
            .str.replace_all("<", "&lt;", literal=True).str.replace_all(">", "&gt;", literal=True))


def _cell(name: str, dtype: pl.DataType, shared: dict[str, dict[str, int]], plain: bool) -> pl.Expr:
    """The <c> element of one column for every row (an empty <c/> for null keeps the positions).

    `plain`: the text column holds nothing to escape (checked once per table, which is much
    cheaper than escaping millions of phone numbers).
    """
    col = pl.col(name)
    if dtype == pl.Categorical:
        index = col.cast(pl.String).replace_strict(shared[name], return_dtype=pl.String, default=None)
        value = pl.concat_str(pl.lit('<c t="s"><v>'), index, pl.lit("</v></c>"))
    elif dtype == pl.Boolean:
        value = pl.concat_str(pl.lit('<c t="b"><v>'), col.cast(pl.Int8).cast(pl.String), pl.lit("</v></c>"))
    elif dtype.is_numeric():
        value = pl.concat_str(pl.lit("<c><v>"), col.cast(pl.String), pl.lit("</v></c>"))
    elif isinstance(dtype, pl.Datetime):
        serial = (col.dt.epoch("ms") / 86_400_000 + EXCEL_EPOCH_DAYS).round(8).cast(pl.String)
        value = pl.concat_str(pl.lit('<c s="2"><v>'), serial, pl.lit("</v></c>"))
    else:
        text = col.cast(pl.String)
        value = pl.concat_str(pl.lit('<c t="inlineStr"><is><t>'), text if plain else _text(text),
                              pl.lit("</t></is></c>"))
    return value.fill_null(pl.lit("<c/>"))


def _plain_text(table: pl.DataFrame) -> set[str]:
    """The text columns without a character that needs escaping or dropping in XML (or edge spaces)."""
    texts = [n for n, t in table.schema.items() if t == pl.String]
    if not texts:
        return set()
    needs = table.select(pl.col(n).str.contains(r"[&<>\x00-\x1f\ufffe\uffff]|^\s|\s$").any() for n in texts).row(0)
    return {n for n, bad in zip(texts, needs) if not bad}


def _sheet_xml_head(columns: list[str]) -> str:
    cols = "".join(f'<col min="{i}" max="{i}" width="{max(10, min(40, len(c) * 2 + 4))}" customWidth="1"/>'
                   for i, c in enumerate(columns, 1))
    header = "".join(f'<c t="inlineStr" s="1"><is><t>{escape(c)}</t></is></c>' for c in columns)
    return (f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<worksheet {NS}><sheetViews><sheetView '
            'workbookViewId="0"><pane ySplit="1" topLeftCell="A2" activePane="bottomLeft" state="frozen"/>'
            f'</sheetView></sheetViews><cols>{cols}</cols><sheetData><row>{header}</row>')


def _write_sheet(book: zipfile.ZipFile, member: str, table: pl.DataFrame, shared: dict[str, dict[str, int]]) -> None:
    """Stream one sheet into the zip: polars builds the next batch's XML while this thread compresses."""
    plain = _plain_text(table)
    row = pl.concat_str(pl.lit("<row>"), *(_cell(n, t, shared, n in plain) for n, t in table.schema.items()),
                        pl.lit("</row>")).alias("xml")

    def batch(offset: int) -> bytes:
        buffer = io.BytesIO()
        table.slice(offset, BATCH_ROWS).select(row).write_csv(buffer, include_header=False, quote_style="never")
        return buffer.getvalue()

    with book.open(member, "w", force_zip64=True) as out, ThreadPoolExecutor(1) as builder:
        out.write(_sheet_xml_head(table.columns).encode())
        pending = builder.submit(batch, 0) if table.height else None
        for offset in range(BATCH_ROWS, table.height + BATCH_ROWS, BATCH_ROWS):
            data = pending.result()
            pending = builder.submit(batch, offset) if offset < table.height else None
            out.write(data)
        out.write(b"</sheetData></worksheet>")


def _split(name: str, table: pl.DataFrame) -> list[tuple[str, pl.DataFrame]]:
    per_sheet = EXCEL_MAX_ROWS - 1
    parts = max(1, -(-table.height // per_sheet))
    return [(name if i == 0 else f"{name[:MAX_NAME - 5]} ({i + 1})", table.slice(i * per_sheet, per_sheet))
            for i in range(parts)]


def write_workbook(path: Path, sheets: list[tuple[str, pl.DataFrame]]) -> list[str]:
    """Write the tables as one workbook, atomically (temp file + rename); returns the sheet names."""
    named = [part for name, table in sheets for part in _split(name[:MAX_NAME], table)]
    strings: list[str] = []
    shared: dict[str, dict[str, int]] = {}
    for _, table in sheets:
        for name, dtype in table.schema.items():
            if dtype == pl.Categorical:
                known = shared.setdefault(name, {})
                for value in table[name].drop_nulls().cast(pl.String).unique(maintain_order=True).to_list():
                    if value not in known:
                        known[value] = str(len(strings))
                        strings.append(value)
    with fileio.atomic_target(path) as tmp, \
            zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as book:
        sheet_entries = "".join(f'<sheet name="{escape(n)}" sheetId="{i}" r:id="rId{i}"/>'
                                for i, (n, _) in enumerate(named, 1))
        rels = "".join(f'<Relationship Id="rId{i}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                       f'relationships/worksheet" Target="worksheets/sheet{i}.xml"/>' for i in range(1, len(named) + 1))
        k = len(named)
        rels += (f'<Relationship Id="rId{k + 1}" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                 f'relationships/styles" Target="styles.xml"/><Relationship Id="rId{k + 2}" Type="http://schemas.'
                 'openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>')
        overrides = "".join(f'<Override PartName="/xl/worksheets/sheet{i}.xml" ContentType="application/vnd.'
                            'openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
                            for i in range(1, len(named) + 1))
        pkg = "http://schemas.openxmlformats.org/package/2006"
        book.writestr("[Content_Types].xml",
                      f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Types xmlns="{pkg}/content-types">'
                      '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                      '<Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
                      'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/>'
                      '<Override PartName="/xl/styles.xml" ContentType="application/vnd.openxmlformats-officedocument.'
                      'spreadsheetml.styles+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/'
                      f'vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/>{overrides}</Types>')
        book.writestr("_rels/.rels",
                      f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<Relationships xmlns="{pkg}/'
                      'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
                      '2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>')
        book.writestr("xl/workbook.xml", f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<workbook {NS} '
                                         f'{REL_NS}><sheets>{sheet_entries}</sheets></workbook>')
        book.writestr("xl/_rels/workbook.xml.rels", f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                                                    f'<Relationships xmlns="{pkg}/relationships">{rels}</Relationships>')
        book.writestr("xl/styles.xml", STYLES)
        book.writestr("xl/sharedStrings.xml",
                      f'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n<sst {NS} count="{len(strings)}" '
                      f'uniqueCount="{len(strings)}">'
                      + "".join(f'<si><t xml:space="preserve">{escape(re.sub(INVALID_XML, "", s))}</t></si>'
                                  for s in strings) + "</sst>")
        for i, (_, table) in enumerate(named, 1):
            _write_sheet(book, f"xl/worksheets/sheet{i}.xml", table, shared)
    return [n for n, _ in named]
