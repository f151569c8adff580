"""The header row of an export: which column holds which field, and what to say about headers no alias knows.

Shared by the CDR reader (pipeline.records.read) and the package's side inputs
(pipeline.package.inputs). It reads no file and decides nothing about rows.
"""

from __future__ import annotations

from pipeline.records.config import FIELDS, RecordsConfig, header_key


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


def clean_cell(cell) -> str:
    """A header or value cell as text: no surrounding spaces or quotes; None is empty."""
    return str(cell).strip().strip('"').strip() if cell is not None else ""


def unknown_header_note(file: str, cells: list, mapping: dict[str, int], labels: dict[str, str],
                        settings: str) -> str | None:
    """What to say when a header row holds names no alias knows while fields are still without a column:
    the file, those headers and the missing fields (None when every field has one, or every header is known)."""
    unknown = [clean_cell(c) for i, c in enumerate(cells) if clean_cell(c) and i not in mapping.values()]
    missing = [f"{labels[name]} ({name})" for name in labels if name not in mapping]
    if not unknown or not missing:
        return None
    return (f"{file}: header{'s' if len(unknown) > 1 else ''} {', '.join(repr(u) for u in unknown)} not recognised; "
            f"fields still without a column: {', '.join(missing)}. Add the header to its field's list "
            f"in {settings} (case, spaces and full-width forms do not matter)")
