"""`callaudit retention OUT [--records CDR...] [--complaints FILE] [--destroy --operator A --witness B]`.

Reads the inputs (the scan's catalog, the call-detail exports and complaint
records through the package's readers), builds the plan (pipeline.retention.plan)
and prints it; with --destroy, destroys what is due (pipeline.retention.destroy).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pipeline.core.catalog import Catalog
from pipeline.core.schema_datasec import RetentionItem
from pipeline.package.complaints import check_complaints, load_handling
from pipeline.package.config import DEFAULT_CONFIG, PackageConfig, load_package_config
from pipeline.package.inputs import read_input
from pipeline.package.join import PackageOptions, read_cdr
from pipeline.package.link import Linked, link_recordings
from pipeline.retention import destroy as destroy_mod
from pipeline.retention.plan import Complaint, complaints_by_call, plan
from pipeline.retention.policy import DEFAULT_POLICY, load_policy


@dataclass(frozen=True)
class RetentionOptions:
    """What `callaudit retention` is asked to do. Defaults: list only, today, the shipped policy."""

    records: list[str] = field(default_factory=list)     # CDR exports or folders (dates and call types)
    complaints: Path | None = None                        # complaint-handling records (closing days)
    policy: Path = DEFAULT_POLICY                         # phrases/retention.yaml
    config: Path = DEFAULT_CONFIG                         # phrases/package.yaml (linking, complaint call types)
    today: date | None = None                             # None: the local date
    column_map: dict[str, str] = field(default_factory=dict)


def complaint_calls(rows: list[dict], records: dict[str, dict], linked: Linked, path: Path | None,
                    config: PackageConfig) -> dict[str, Complaint] | None:
    """call_id -> complaint of each complaint recording; None when no complaint records are given."""
    if path is None:
        return None
    handling_rows, _ = read_input(path, "complaints", config)
    handling, _ = load_handling(handling_rows)
    calls, _ = check_complaints(rows, records, linked, handling, config)
    return complaints_by_call(calls)


def build_plan(out_dir: Path, options: RetentionOptions) -> list[RetentionItem]:
    """The plan of every recording of DIR under the policy, as of `options.today`."""
    policy = load_policy(options.policy)
    config = load_package_config(options.config)
    with Catalog(out_dir, create=False) as catalog:
        records, sources = catalog.records(), catalog.sources()
    rows = []
    if options.records:
        rows, _, _ = read_cdr(options.records, PackageOptions(records=options.records,
                                                              column_map=options.column_map))
    linked = link_recordings(records, rows, config)
    complaints = complaint_calls(rows, {r["call_id"]: r for r in records}, linked, options.complaints, config)
    return plan(records, sources, linked, complaints, policy, config, options.today or date.today(),
                destroy_mod.destructions(out_dir))


def print_plan(items: list[RetentionItem], stream=sys.stdout) -> None:
    """One line per recording: status, call id, file, reason; then the count of each status."""
    counts: dict[str, int] = {}
    for item in items:
        counts[item["status"]] = counts.get(item["status"], 0) + 1
        print(f"{item['status']}\t{item['call_id']}\t{item['file']}\t{item['reason']}", file=stream)
    print("  ".join(f"{k}: {v}" for k, v in sorted(counts.items())) or "no recordings", file=sys.stderr)
