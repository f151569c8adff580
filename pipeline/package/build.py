"""`callaudit package`: the inspection package, recordings joined to their call, consent, complaint and agent records.

`join` reads every input and runs every check, `findings` gathers every flag,
`folders` writes the folder of each regulator category with its XLSX index,
`readiness` writes `readiness.html`; this module adds findings.json and
`MANIFEST.sha256` and puts the package in place. It runs no check of its own.

The package is built in a temporary folder beside PKG and renamed into place,
so a package on disk is always whole, and its manifest covers exactly its files.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from pipeline.core import fileio, review_store
from pipeline.core.catalog import Catalog
from pipeline.core.errors import UsageError
from pipeline.core.fileio import file_sha256
from pipeline.integrity import verify as custody_verify
from pipeline.package import readiness
from pipeline.package.config import load_package_config
from pipeline.package.findings import counted, package_findings
from pipeline.package.folders import (
    write_abnormal,
    write_base,
    write_complaints,
    write_consent,
    write_sensitive,
)
from pipeline.package.join import PackageOptions, join
from pipeline.package.link import ABNORMAL, BASE, COMPLAINTS, CONSENT, SENSITIVE
from pipeline.package.masker import Masker

MANIFEST = "MANIFEST.sha256"


def write_manifest(folder: Path) -> Path:
    """MANIFEST.sha256: `<sha256>  <relative path>` for every file, sorted by path (sha256sum -c reads it)."""
    lines = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != MANIFEST):
        lines.append(f"{file_sha256(str(path))}  {path.relative_to(folder).as_posix()}\n")
    target = folder / MANIFEST
    fileio.write_atomic(target, "".join(sorted(lines, key=lambda line: line.split("  ", 1)[1])))
    return target


def _replace_folder(built: Path, out: Path) -> None:
    """Put the finished package at `out`; an earlier package there is removed only after the new one is whole."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(built, out)
    if old:
        shutil.rmtree(old, ignore_errors=True)


def custody_result(scan_dir: Path, mask: Masker) -> dict:
    """The custody ledger's verification result (`callaudit verify`), paths masked with --redact, hashes kept."""
    result = custody_verify.verify(scan_dir)
    return {**mask(result), "head": result["head"]}


def build_package(scan_dir: Path, out: Path, options: PackageOptions) -> dict:
    """Run every check on the scan in `scan_dir` and the exports, write the package to `out`; returns a summary."""
    scan_dir, out = Path(scan_dir), Path(out)
    if not (scan_dir / "catalog.sqlite").is_file():
        raise UsageError(f"{scan_dir} holds no scan (catalog.sqlite): run `callaudit scan ... --out {scan_dir}` first")
    config = load_package_config(options.config_path)
    joined = join(scan_dir, options, config)
    every_flag = package_findings(joined, config, review_store.decisions(scan_dir))
    flags = counted(every_flag)
    mask = Masker(options.redact)
    with Catalog(scan_dir, create=False) as catalog:
        sources = catalog.sources()
    out.parent.mkdir(parents=True, exist_ok=True)
    built = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        write_base(built / BASE, joined, flags, mask)
        write_consent(built / CONSENT, joined, flags, sources, mask, config)
        write_complaints(built / COMPLAINTS, joined, flags, sources, mask)
        write_sensitive(built / SENSITIVE, joined, flags, sources, mask, config)
        write_abnormal(built / ABNORMAL, joined, flags, mask)
        summary = {"categories": mask(readiness.readiness(joined, flags)), "flags": mask(flags),
                   "dismissed": mask([f for f in every_flag if not review_store.is_open(f.get("review", "open"))]),
                   "input_problems": mask(joined.problems), "links": mask(list(joined.linked.links.values())),
                   "checked": joined.checked, "recordings": len(joined.records), "cdr_rows": len(joined.rows),
                   "custody": custody_result(scan_dir, mask)}
        fileio.write_atomic(built / "findings.json", json.dumps(summary, ensure_ascii=False, indent=1,
                                                                 default=str) + "\n")
        fileio.write_atomic(built / "readiness.html", readiness.format_page(summary, mask))
        write_manifest(built)
        os.chmod(built, 0o700)
        _replace_folder(built, out)
    except BaseException:
        shutil.rmtree(built, ignore_errors=True)
        raise
    return summary
