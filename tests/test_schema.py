"""The record schema: the committed JSON Schema is the one pipeline.schema generates, every record of the
fixture scan validates against it, its provenance says what produced it, and the table of defaults
in docs/settings.md is the option dataclasses'."""

from __future__ import annotations

import dataclasses
import importlib.metadata
import json
import re

import jsonschema
import pytest
from conftest import ROOT

from pipeline.core import models, schema
from pipeline.scan import phrase_catalog
from pipeline.scan.match import MatchOptions
from pipeline.scan.options import ScanOptions, effective_options
from pipeline.scan.recovery import RecoveryOptions
from pipeline.scan.splice import SpliceOptions
from pipeline.scan.vad import VadOptions

SCHEMA_FILE = ROOT / "docs" / "record.schema.json"


def test_committed_schema_is_generated_from_the_types():
    """Regenerate with `python -m pipeline.core.schema > docs/record.schema.json`."""
    assert json.loads(SCHEMA_FILE.read_text("utf-8")) == schema.record_json_schema()


def test_every_record_of_the_fixture_scan_validates(fixture_scan):
    validator = jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text("utf-8")))
    out = fixture_scan["out"]
    for record in fixture_scan["records"].values():
        errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(record)]
        assert not errors, (record["file"], errors[:5])
        validator.validate(json.loads((out / "calls" / f"{record['call_id']}.json").read_text("utf-8")))


def test_schema_rejects_what_a_stage_did_not_declare(fixture_scan):
    record = json.loads(json.dumps(next(iter(fixture_scan["records"].values()))))
    record["flags"].append({"problem": "missing", "rule": "x", "start": None, "end": None, "message": "no channel"})
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(record, schema.record_json_schema())


def test_provenance_names_version_model_catalog_and_options(fixture_scan):
    expected = {
        "callaudit": importlib.metadata.version("callaudit"),
        "model": {"name": "default", "sha256": models.UPSTREAM_SHA256["model.bin"]},
        "catalog": {"sha256": phrase_catalog.catalog_sha256(ROOT / "phrases"),
                    "files": [p.name for p in phrase_catalog.catalog_files(ROOT / "phrases")]},
        "options": dataclasses.asdict(effective_options(ScanOptions())),
    }
    for record in fixture_scan["records"].values():
        assert record["provenance"] == expected, record["file"]
    assert expected["options"]["splice"]["thresholds"]["g711_grid"] > 0


STAGE_OPTIONS = {"vad": VadOptions, "recovery": RecoveryOptions, "match": MatchOptions, "splice": SpliceOptions}


def dataclass_defaults() -> dict[str, float]:
    """`stage.field` (and `splice.thresholds.detector`) -> default, from the dataclasses."""
    out = {}
    for stage, cls in STAGE_OPTIONS.items():
        for name, value in dataclasses.asdict(cls()).items():
            items = value.items() if isinstance(value, dict) else [(None, value)]
            for key, item in items:
                out[".".join(p for p in (stage, name, key) if p)] = float(item)
    return out


def test_documented_defaults_are_the_option_dataclasses():
    page = (ROOT / "docs" / "settings.md").read_text("utf-8")
    rows = dict(re.findall(r"^\| `((?:vad|recovery|match|splice)\.[\w.]+)` \| ([-\d.]+) \|", page, re.MULTILINE))
    assert {k: float(v) for k, v in rows.items()} == dataclass_defaults()
