"""Read call-detail record exports (CSV, XLSX/XLS) into one table of raw text fields.

Every data row keeps its file and its row number as a spreadsheet shows it (the
header is usually row 1): CSV rows are physical lines, so a row number is the
line number, and a quoted value holding the separator or a line break shows up
as a row with the wrong number of fields instead of silently shifting the rows
after it. Call records never hold commas or line breaks in a field.

Encodings: UTF-8 (with or without BOM) is read as it is; GBK/GB18030 is detected
on the first megabyte and transcoded to a temporary UTF-8 file in blocks. Rows in
another encoding than the rest of their file (mixed exports) and rows with bytes
that decode in neither are kept and marked, never dropped. A file that is no text
at all (NUL bytes, neither encoding) is a whole-file error; the other files are
still read. Workbooks are read sheet by sheet with fastexcel (calamine); a sheet
without a recognisable header (a notes sheet) is skipped and said so.

The header is looked for in the first rows (exports often put a title above it):
the first row in which at least four of the six required fields are recognised,
by `--columns` or the alias table of `phrases/records.yaml`.
It reads; it judges no field's form (pipeline.records.check does).
"""

from __future__ import annotations

import codecs
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from pipeline.records.config import (
    FIELD_LABELS,
    FIELDS,
    REQUIRED_FIELDS,
    RecordsConfig,
    header_key,
)

SNIFF_BYTES = 1 << 20            # encoding and separator are decided on the first MiB
BLOCK_BYTES = 16 << 20           # GBK files are transcoded in blocks of whole lines
HEADER_SEARCH_ROWS = 20
MIN_HEADER_FIELDS = 4
SEPARATORS = (",", "\t", ";", "|")
ZIP_MAGIC = b"PK\x03\x04"
OLE_MAGIC = b"\xd0\xcf\x11\xe0"  # legacy .xls
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
ENCODING_NAMES = {"utf-8": "UTF-8", "utf-8-sig": "UTF-8 with BOM", "gbk": "GBK", "gb18030": "GB18030"}
SPREADSHEET_SUFFIXES = (".xlsx", ".xlsm", ".xls")
RECORD_SUFFIXES = (".csv", ".txt", *SPREADSHEET_SUFFIXES)
# Lines are read as one text column split on a byte no text export holds; a line that does hold it
# lands partly in REST and is reported, so nothing is cut off silently.
UNUSED_BYTE = "\x1f"
LINE, REST = "line", "rest"
# Two UTF-8 encoded CJK characters in a row: where a GBK file may hold a UTF-8 line.
UTF8_CJK = re.compile(rb"(?:[\xe0-\xef][\x80-\xbf]{2}){2}")


class ReadError(Exception):
    """A whole file (or sheet) cannot be read; the message says why."""


@dataclass
class Source:
    """One CSV file or one workbook sheet, as read."""

    name: str                       # "a.csv", or "book.xlsx[Sheet1]"
    format: str                     # csv / xlsx
    encoding: str | None = None     # as people call it: UTF-8, UTF-8 with BOM, GBK, GB18030
    header_row: int | None = None
    columns: dict[str, str] = field(default_factory=dict)   # field -> header found
    rows: int = 0                   # data rows read
    blank_rows: int = 0             # empty lines or rows skipped
    error: str | None = None
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def discover(paths: list[str]) -> list[Path]:
    """The record files named, folders searched recursively for csv/txt/xlsx/xls, in name order."""
    found: list[Path] = []
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in RECORD_SUFFIXES)
        else:
            found.append(path)
    return found


# -- encoding ------------------------------------------------------------------------
def detect_encoding(head: bytes, whole: bool) -> str:
    """The codec of a text file from its first bytes (`whole`: they are the whole file).

    Decided line by line on the sample, so a mostly-UTF-8 file with a few GBK rows is
    UTF-8 (and those rows are reported later), and vice versa.
    """
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith(UTF16_BOMS):
        raise ReadError("UTF-16 text: export the records again as CSV in UTF-8 or GBK")
    if b"\x00" in head:
        raise ReadError(f"binary data (a NUL byte at offset {head.index(0)}), not a CSV export")
    if not whole:
        head = head[: head.rfind(b"\n") + 1] or head
    utf8 = gbk = gb18030 = bad = 0
    for line in head.splitlines():
        if line.isascii():
            continue
        if _decodes(line, "utf-8"):
            utf8 += 1
        elif _decodes(line, "gbk"):
            gbk += 1
        elif _decodes(line, "gb18030"):
            gb18030 += 1
        else:
            bad += 1
    if bad > utf8 + gbk + gb18030:
        raise ReadError("neither UTF-8 nor GBK text (most lines hold bytes that decode in neither): "
                        "not a CSV export, or a damaged one")
    if utf8 >= gbk + gb18030:
        return "utf-8"
    return "gbk" if gb18030 == 0 else "gb18030"


def _decodes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _decode_lines(data: bytes, encoding: str, first_line: int, foreign: set[int]) -> str:
    """Decode whole lines one by one: UTF-8 lines and undecodable ones are added to `foreign`."""
    out = []
    for number, line in enumerate(data.splitlines(keepends=True), first_line):
        if not line.isascii() and _decodes(line, "utf-8"):
            out.append(line.decode("utf-8"))
            foreign.add(number)
        elif _decodes(line, encoding):
            out.append(line.decode(encoding))
        else:
            out.append(line.decode(encoding, errors="replace"))
            foreign.add(number)
    return "".join(out)


def _decode_block(data: bytes, encoding: str, first_line: int, foreign: set[int]) -> str:
    """One block of whole lines of a GBK file: in one call when it is clean, else line by line."""
    suspect = any(_decodes(data[data.rfind(b"\n", 0, m.start()) + 1: _line_end(data, m.end())], "utf-8")
                  for m in UTF8_CJK.finditer(data))
    if not suspect:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            pass
    return _decode_lines(data, encoding, first_line, foreign)


def _line_end(data: bytes, pos: int) -> int:
    end = data.find(b"\n", pos)
    return len(data) if end < 0 else end


def transcode(path: Path, encoding: str, target: Path) -> set[int]:
    """Write `path` as UTF-8 to `target`; return the line numbers (1-based) not in `encoding`."""
    foreign: set[int] = set()
    line_no, pending = 1, b""
    with open(path, "rb") as src, open(target, "wb") as dst:
        while True:
            block = src.read(BLOCK_BYTES)
            data = pending + block
            cut = data.rfind(b"\n") + 1 if block else len(data)
            if block and cut == 0:  # a line longer than a block: read on
                pending = data
                continue
            data, pending = data[:cut], data[cut:]
            dst.write(_decode_block(data, encoding, line_no, foreign).encode("utf-8"))
            line_no += data.count(b"\n")
            if not block:
                return foreign


# -- header --------------------------------------------------------------------------
def map_header(cells: list[str], config: RecordsConfig, column_map: dict[str, str]) -> dict[str, int]:
    """field -> column index, from --columns first, then the alias table; each column used once."""
    keys = [header_key(c) if c is not None else "" for c in cells]
    found: dict[str, int] = {}
    for name in FIELDS:
        wanted = [column_map[name]] if name in column_map else config.columns.get(name, ())
        for alias in wanted:
            key = header_key(alias)
            if key in keys and keys.index(key) not in found.values():
                found[name] = keys.index(key)
                break
    return found


def _clean(cell) -> str:
    return str(cell).strip().strip('"').strip() if cell is not None else ""


def find_header(rows: list[list], config: RecordsConfig, column_map: dict[str, str]) -> tuple[int, dict[str, int]]:
    """(index of the header among `rows`, its field -> column mapping); ReadError when none is found."""
    needed = min(MIN_HEADER_FIELDS, len(REQUIRED_FIELDS))
    for index, cells in enumerate(rows[:HEADER_SEARCH_ROWS]):
        mapping = map_header([_clean(c) for c in cells], config, column_map)
        if sum(1 for name in REQUIRED_FIELDS if name in mapping) >= needed:
            return index, mapping
    first = next((" | ".join(_clean(c) for c in r if _clean(c)) for r in rows if any(_clean(c) for c in r)), "")
    raise ReadError(f"no header with the call-record columns in the first {HEADER_SEARCH_ROWS} rows "
                    f"(first row: {first[:120]!r}); name the columns with --columns MAP.yaml")


def _missing_notes(source: Source, mapping: dict[str, int]) -> None:
    for name in REQUIRED_FIELDS:
        if name not in mapping:
            source.notes.append(f"no {FIELD_LABELS[name]} ({name}) column: every row is rejected for it")


def _field_columns(mapping: dict[str, int], cell) -> list[pl.Expr]:
    """The FIELDS columns as raw text from `cell(index)` expressions; fields without a column are null.

    Values are not trimmed here: the row check accepts the common clean forms as they are and
    trims (spaces, quotes, Excel's ="..." guard) only the values it does not accept at once.
    """
    return [cell(mapping[name]).alias(name) if name in mapping else pl.lit(None, pl.String).alias(name)
            for name in FIELDS]


def _absent(mapping: dict[str, int]) -> pl.Expr:
    """The required fields the file has no column for, comma-separated (null when none)."""
    missing = ",".join(name for name in REQUIRED_FIELDS if name not in mapping)
    return pl.lit(missing or None, pl.String).alias("absent")


# -- CSV -----------------------------------------------------------------------------
def _scan_lines(path: Path) -> pl.LazyFrame:
    """The file's lines as text with their 1-based line number (streamed; invalid UTF-8 becomes U+FFFD)."""
    return pl.scan_csv(path, has_header=False, separator=UNUSED_BYTE, quote_char=None, encoding="utf8-lossy",
                       schema={LINE: pl.String, REST: pl.String}, truncate_ragged_lines=True,
                       raise_if_empty=False, comment_prefix=None, missing_columns="insert",
                       row_index_name="row", row_index_offset=1) \
        .with_columns(pl.col(LINE).str.strip_chars_end("\r"))


def _separator(lines: list[str | None]) -> str:
    """The separator most used on one of the first lines (a title line above the header has none)."""
    return max(SEPARATORS, key=lambda sep: max((t.count(sep) for t in lines if t), default=0))


def read_csv(path: Path, config: RecordsConfig, column_map: dict[str, str], tmp: Path) -> tuple[pl.DataFrame, Source]:
    """One CSV export -> (rows with file, row, FIELDS, absent, read_problem; its Source)."""
    source = Source(path.name, "csv")
    with open(path, "rb") as handle:
        head = handle.read(SNIFF_BYTES)
        whole = not handle.read(1)
        cut_off = False                     # the file does not end with a line break
        if head:
            handle.seek(-1, 2)
            cut_off = handle.read(1) != b"\n"
    if not head:
        raise ReadError("empty file")
    encoding = detect_encoding(head, whole)
    source.encoding = ENCODING_NAMES[encoding]
    foreign: set[int] = set()
    if not encoding.startswith("utf-8"):
        converted = tmp / f"{len(list(tmp.iterdir()))}.csv"
        foreign = transcode(path, encoding, converted)
        path = converted
    top = _scan_lines(path).head(HEADER_SEARCH_ROWS).collect()[LINE].to_list()
    separator = _separator(top)
    index, mapping = find_header([(t or "").split(separator) for t in top], config, column_map)
    source.header_row = index + 1
    header = (top[index] or "").split(separator)
    source.columns = {name: _clean(header[i]) for name, i in mapping.items()}
    _missing_notes(source, mapping)
    width = len(header)
    parts = pl.col(LINE).str.splitn(separator, width + 1)
    fields = _scan_lines(path).filter(pl.col("row") > index + 1).select(
        pl.lit(source.name).cast(pl.Categorical).alias("file"), pl.col("row"),
        *_field_columns(mapping, lambda i: parts.struct.field(f"field_{i}")), _absent(mapping),
        _read_problem(pl.col(LINE).str.count_matches(separator, literal=True) + 1, width, foreign,
                      source.encoding),
        (pl.col(LINE).is_null() | pl.col(LINE).str.contains(r"^\s*$")).alias("blank"),
    ).collect(engine="streaming")
    if cut_off and fields.height:
        last = pl.col("row") == fields["row"].max()
        fields = fields.with_columns(
            pl.when(last & pl.col("read_problem").is_not_null())
            .then(pl.lit("the file ends inside this row (a truncated export?): ") + pl.col("read_problem"))
            .otherwise("read_problem").alias("read_problem"))
    source.blank_rows = int(fields["blank"].sum())
    if source.blank_rows:
        fields = fields.filter(~pl.col("blank"))
    fields = fields.drop("blank")
    source.rows = fields.height
    return fields, source


def _read_problem(count: pl.Expr, width: int, foreign: set[int], encoding: str) -> pl.Expr:
    """Why a CSV row cannot be trusted as read, or null."""
    other = "UTF-8, or bytes that decode in neither" if encoding.startswith("GB") else "GBK?"
    return (pl.when(pl.col(REST).is_not_null()).then(pl.lit("the row holds the control character U+001F"))
            .when(pl.col("row").is_in(sorted(foreign)) | pl.col(LINE).str.contains("\ufffd", literal=True))
            .then(pl.lit(f"mixed encodings: this row is not {encoding} like the rest of its file ({other})"))
            .when(count != width)
            .then(pl.format("{} fields where the header has " + str(width) + " (a cut-off row, or a separator "
                            "inside a value?)", count))
            .alias("read_problem"))


# -- workbooks -----------------------------------------------------------------------
def read_workbook(path: Path, config: RecordsConfig, column_map: dict[str, str]) -> list[tuple[pl.DataFrame | None, Source]]:
    """Every sheet of a workbook with a call-record header; other sheets come back with a note."""
    import fastexcel

    try:
        reader = fastexcel.read_excel(str(path))
    except Exception as exc:  # fastexcel raises its own error types for damaged files
        raise ReadError(f"not a readable workbook: {exc}") from None
    results = []
    for index, sheet in enumerate(reader.sheet_names):
        source = Source(f"{path.name}[{sheet}]", "xlsx")
        try:
            table = reader.load_sheet(index, header_row=None, skip_rows=0, dtypes="string").to_polars()
        except Exception as exc:
            source.error = f"sheet cannot be read: {exc}"
            results.append((None, source))
            continue
        if table.height == 0:
            source.notes.append("empty sheet")
            results.append((None, source))
            continue
        top = table.head(HEADER_SEARCH_ROWS).rows()
        try:
            index_row, mapping = find_header([list(r) for r in top], config, column_map)
        except ReadError as exc:
            source.notes.append(f"skipped: {exc}")
            results.append((None, source))
            continue
        source.header_row = index_row + 1
        source.columns = {name: _clean(top[index_row][i]) for name, i in mapping.items()}
        _missing_notes(source, mapping)
        names = table.columns
        body = table.with_row_index("row", offset=1).slice(index_row + 1)
        blank = pl.all_horizontal(pl.col(names).is_null() | (pl.col(names).str.strip_chars() == ""))
        source.blank_rows = int(body.select(blank.sum()).item())
        body = body.filter(~blank)
        fields = body.select(pl.lit(source.name).cast(pl.Categorical).alias("file"), pl.col("row"),
                             *_field_columns(mapping, lambda i: pl.col(names[i])), _absent(mapping),
                             pl.lit(None, pl.String).alias("read_problem"))
        source.rows = fields.height
        results.append((fields, source))
    return results


def read_all(paths: list[Path], config: RecordsConfig, column_map: dict[str, str]) -> tuple[pl.DataFrame, list[Source]]:
    """Every file -> one table (file, row, FIELDS as text, read_problem) and one Source per file or sheet."""
    frames, sources = [], []
    with tempfile.TemporaryDirectory(prefix="callaudit-records-") as tmp:
        for path in paths:
            try:
                if not path.is_file():
                    raise ReadError("not found" if not path.exists() else "not a regular file")
                with open(path, "rb") as handle:
                    magic = handle.read(4)
                if path.suffix.lower() in SPREADSHEET_SUFFIXES or magic in (ZIP_MAGIC, OLE_MAGIC):
                    read = read_workbook(path, config, column_map)
                else:
                    read = [read_csv(path, config, column_map, Path(tmp))]
            except (ReadError, OSError, pl.exceptions.PolarsError) as exc:
                message = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
                sources.append(Source(path.name, path.suffix.lower().lstrip(".") or "csv", error=message))
                continue
            for frame, source in read:
                if frame is not None and frame.height == 0 and not source.error:
                    source.notes.append("no data rows after the header")
                sources.append(source)
                if frame is not None:
                    frames.append(frame.with_columns(pl.col("row").cast(pl.Int64)))
        table = (pl.concat(frames, how="vertical") if frames else
                 pl.DataFrame(schema={"file": pl.Categorical, "row": pl.Int64, **{n: pl.String for n in FIELDS},
                                      "absent": pl.String, "read_problem": pl.String}))
    return table, sources
