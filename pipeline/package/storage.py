"""The storage and encryption statement of `phrases/package.yaml` (section `storage`): what the center declares.

The statement is the center's own account (where recordings live, how they are
encrypted in transport and at rest, who may access them and who approves it, the
backup strategy, how expired recordings are destroyed). Nothing here invents a
value: a field left empty is listed as missing, and the package's readiness says so.
"""

from __future__ import annotations

from pipeline.core.settings import Where, YamlMap

# field -> its label in the package (and the question it answers)
FIELDS = {
    "location": "存储方式与位置（本地服务器/云端） / where recordings are stored",
    "transport_encryption": "传输加密 / encryption in transport",
    "at_rest_encryption": "存储加密 / encryption at rest",
    "access_control": "访问权限控制（谁能查看） / who may access recordings",
    "access_approval": "查看权限审批（谁审批、如何审批） / who approves access, and how",
    "approval_required": "每次收听须有审批人 / every playback needs an approver (true/false)",
    "backup": "数据备份策略（频率、介质、存放地） / backup frequency, medium and place",
    "destruction": "过期记录销毁方式 / how expired recordings are destroyed",
}


def parse_storage(where: Where, storage: YamlMap) -> dict:
    """{"storage": field -> text (or bool for approval_required), None where empty}; wrong types are errors."""
    values: dict = {}
    for key in FIELDS:
        value = storage.get(key)
        line = where.key_line(storage, key)
        if key == "approval_required":
            if value is not None and value != "" and not isinstance(value, bool):
                raise where.error(line, f"'approval_required' must be true or false (or left empty), got {value!r}")
            values[key] = value if isinstance(value, bool) else None
        else:
            if value is not None and not isinstance(value, str):
                raise where.error(line, f"'{key}' must be text, got {value!r}")
            values[key] = value.strip() if value and value.strip() else None
    return {"storage": values}


def missing(storage: dict) -> list[str]:
    """The statement's fields left empty, in FIELDS order."""
    return [key for key in FIELDS if storage.get(key) is None]
