"""What the inspection package's checks return (`callaudit package`): flags, links, input problems.

Not part of the call record (pipeline.core.schema), but one place for this output
contract too: every finding that reaches the package passes through
pipeline.package.findings.package_findings as a PackageFlag. Nothing here reads or
writes anything.
"""

from typing import Literal

from typing_extensions import NotRequired, TypedDict

from pipeline.core.schema import Problem

PackageCategory = Literal["基础通话记录", "合规性标识记录", "投诉处理通话记录", "敏感业务专项记录", "数据安全存储记录",
                          "异常通话监控记录"]
PackageCheck = Literal[
    "unlinked", "no_recording", "duration_mismatch",                         # recording <-> CDR row
    "no_consent", "consent_after_call", "consent_withdrawn",                  # marketing consent
    "no_handling_record", "handling_fields_missing", "promise_broken", "recurring_category",   # complaints
    "certificate_unknown", "certificate_other_agent", "certificate_type", "certificate_not_valid",
    "storage_statement_missing", "past_retention", "recording_missing", "destruction_interrupted",   # data security
    "destruction_unwitnessed", "no_backup_verified", "backup_not_clean", "playback_unapproved", "ledger_broken",
    "abnormal_unhandled",                                                    # abnormal calling without handling
    "scan",                                                                  # a flag of the call's record
]


class RowRef(TypedDict):
    """A row of an input file, as a spreadsheet shows it (the header is row 1 unless a title is above it)."""

    file: str
    row: int


class Link(TypedDict):
    """A recording and the CDR row it belongs to."""

    call_id: str
    file: str                          # the recording, relative to the archive root
    cdr: RowRef
    method: Literal["call_id", "file", "numbers_time"]
    offset_s: float | None             # numbers_time: file-name start minus CDR start


class PackageFlag(TypedDict):
    """A problem the package reports; `categories` are those of the package it makes fail."""

    check: PackageCheck
    categories: list[PackageCategory]
    call_id: str | None                # the recording, when there is one
    cdr: RowRef | None                 # the call-detail row, when there is one
    row: RowRef | None                 # the consent / complaint / agent row concerned
    subject: str                       # the number, agent, category or rule concerned
    message: str
    candidate: str | None              # the nearest candidate (consent number, certificate), if any
    problem: NotRequired[Problem]      # check "scan": the record flag's problem and rule
    rule: NotRequired[str | None]
    start: NotRequired[float | None]
    review: NotRequired[Literal["open", "confirmed", "second_look", "dismiss_pending", "dismissed"]]  # the reviewer's state (pipeline.review_store)


class InputProblem(TypedDict):
    """A row or file of an input that could not be used; listed, never fatal."""

    source: Literal["records", "consent", "complaints", "agents", "scan"]
    file: str
    row: int | None
    field: str | None
    value: str | None
    reason: str
