"""The data-security records (issue #27): the shapes the retention plan, the destruction records, the backup
verifications and the abnormal-finding accounts have in the ledger, the JSON files and the package.

Beside pipeline.core.schema (the call record) for the same reason: one place for each output contract.
Nothing here reads or writes anything.
"""

from typing import Literal

from typing_extensions import TypedDict


class RetentionItem(TypedDict):
    """One recording in the retention plan (pipeline.retention.plan): what happens to it and why."""

    call_id: str
    file: str                          # archive-relative path
    path: str | None                   # where it is on disk (the catalog's source path)
    status: Literal["due", "keep", "hold", "open_complaint", "undated", "changed", "destroyed", "interrupted",
                    "missing"]
    reason: str
    call_type: str | None
    call_day: str | None               # YYYY-MM-DD, from its call-detail row or its file name
    due_on: str | None                 # the first day it may be destroyed


class DestructionRecord(TypedDict):
    """A destroyed recording (ledger kind `destroyed`): written before the file is deleted."""

    call_id: str
    path: str                          # archive-relative, as in every ledger entry
    source: str                        # where the file was on disk
    size: int
    sha256: str
    time: str                          # ISO 8601 with the UTC offset
    method: str
    operator: str                      # 销毁人, a workbench account
    witness: str                       # 监销人, another workbench account
    reason: str


class BackupVerification(TypedDict):
    """One run of `callaudit verify OUT --backup DIR...` (ledger kind `backup_verified`)."""

    time: str
    locations: list[str]
    recordings: int                    # recordings compared
    matched: int                       # copies equal to their recording, over every location
    missing: list[dict]                # {"location", "file"}
    differing: list[dict]              # {"location", "file", "sha256", "expected"}
    extra: list[dict]                  # {"location", "file", "destroyed"}: destroyed = a destroyed recording's copy
    report: str                        # the JSON file of this verification
    clean: bool


class AbnormalHandling(TypedDict):
    """The 发现-处理-整改 account of one abnormal-calling finding (pipeline.core.abnormal_store)."""

    finding: str                       # abnormal_store.finding_key
    check: str
    subject: str
    day: str
    checked: str                       # 核查过程
    result: str                        # 处理结果
    measures: str                      # 整改措施
    handler: str
    handled_at: str

