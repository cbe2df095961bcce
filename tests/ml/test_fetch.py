"""Tests for ml.fetch: lock parsing, hashing, archive extraction and fetching from PyPI."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

from ml.fetch import (
    DEFAULT_LOCK,
    Asset,
    FetchError,
    ensure_optional,
    extract_member,
    fetch,
    file_sha256,
    load_lock,
    main,
    select,
    tree_sha256,
)

HEX64 = re.compile(r"[0-9a-f]{64}")
SIX_SPEC = "six==1.16.0"

SDIST_FILES = {
    "pkg-1.0/PKG-INFO": b"Metadata-Version: 2.1\n",
    "pkg-1.0/model/weights.bin": b"\x00\x01weights",
    "pkg-1.0/examples/data/train/a/1.txt": b"train a1",
    "pkg-1.0/examples/data/train/b/2.txt": b"train b2",
    "pkg-1.0/examples/data/val/a/3.txt": b"val a3",
    "pkg-1.0/examples/data/test/a/4.txt": b"test a4",
    "pkg-1.0/examples/data/training/5.txt": b"not train",
    "pkg-1.0/examples/data/README": b"readme",
}
WHEEL_FILES = {
    "pkg/__init__.py": b"VERSION = '1.0'\n",
    "pkg/data/x.bin": b"\xff" * 100,
    "pkg/data/sub/y.bin": b"y",
    "pkg_extra.py": b"# another module with the same prefix\n",
    "pkg-1.0.dist-info/METADATA": b"Name: pkg\n",
}


def _sha(data: bytes) -> str:
    """Hex sha256 of bytes."""
    return hashlib.sha256(data).hexdigest()


def _write_tree(root: Path, files: dict[str, bytes]) -> None:
    """Create `files` (relative path -> content) under root, in the given order."""
    for rel, content in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)


def _files_under(root: Path) -> dict[str, bytes]:
    """Every file under root as relative posix path -> content."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture
def sdist(tmp_path: Path) -> Path:
    """An sdist-like .tar.gz with directory entries, as setuptools writes them."""
    path = tmp_path / "pkg-1.0.tar.gz"
    with tarfile.open(path, "w:gz") as tf:
        dirs = sorted({str(Path(name).parent) for name in SDIST_FILES})
        for name in dirs:
            info = tarfile.TarInfo(name)
            info.type = tarfile.DIRTYPE
            tf.addfile(info)
        for name, content in SDIST_FILES.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tf.addfile(info, io.BytesIO(content))
    return path


@pytest.fixture
def wheel(tmp_path: Path) -> Path:
    """A wheel-like zip, with one explicit directory entry."""
    path = tmp_path / "pkg-1.0-py3-none-any.whl"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("pkg/data/", b"")
        for name, content in WHEEL_FILES.items():
            zf.writestr(name, content)
    return path


def test_load_lock_of_real_models_lock_gives_assets_with_hex_sha256s():
    assets = load_lock(DEFAULT_LOCK)
    assert assets
    names = [a.name for a in assets]
    assert len(set(names)) == len(names)
    for asset in assets:
        assert isinstance(asset, Asset)
        assert HEX64.fullmatch(asset.sha256), asset.name
        assert HEX64.fullmatch(asset.archive_sha256), asset.name
        assert "==" in asset.package
        assert (asset.registry, asset.dist) in {
            ("pypi", "sdist"),
            ("pypi", "wheel"),
            ("npm", "tgz"),
        }
        assert isinstance(asset.include, tuple)
    assert "facenet_keras.h5" in names


def test_load_lock_reads_include_as_tuple_and_defaults_to_empty(tmp_path: Path):
    lock = tmp_path / "models.lock"
    lock.write_text(
        '[[asset]]\nname = "a"\nkind = "model"\npackage = "p==1"\ndist = "wheel"\n'
        f'archive_sha256 = "{"0" * 64}"\npath = "p/a"\nsha256 = "{"1" * 64}"\n'
        '[[asset]]\nname = "b"\nkind = "dataset"\npackage = "p==1"\ndist = "sdist"\n'
        f'archive_sha256 = "{"0" * 64}"\npath = "p/b"\nsha256 = "{"2" * 64}"\n'
        'include = ["train", "val"]\n'
    )
    first, second = load_lock(lock)
    assert first.include == () and second.include == ("train", "val")
    assert load_lock(tmp_path / "models.lock") == [first, second]


def test_optional_groups_are_fetched_only_when_named():
    assets = load_lock(DEFAULT_LOCK)
    dlib = {"dlib_face_recognition_resnet_model_v1.dat", "shape_predictor_5_face_landmarks.dat"}
    assert {a.name for a in assets if a.optional == "dlib"} == dlib
    default = {a.name for a in select(assets)}
    assert "facenet_keras.h5" in default and not default & dlib
    assert dlib < {a.name for a in select(assets, ["dlib"])}
    assert {a.name for a in select(assets, ["dlib"], required=False)} == dlib
    with pytest.raises(FetchError, match="no optional group dlb"):
        select(assets, ["dlb"])


def test_main_verifies_the_default_files_and_an_optional_group_on_request(tmp_path, capsys):
    # Both files already present and right: nothing is downloaded, each is only checked.
    model_dir = tmp_path / "models"
    model_dir.mkdir()
    rows = []
    for name, group in (("base.bin", None), ("extra.bin", "extra")):
        (model_dir / name).write_bytes(name.encode())
        rows.append(
            f'[[asset]]\nname = "{name}"\nkind = "model"\npackage = "p==1"\ndist = "wheel"\n'
            f'archive_sha256 = "{"0" * 64}"\npath = "p/{name}"\nsha256 = "{_sha(name.encode())}"\n'
            + (f'optional = "{group}"\n' if group else "")
        )
    lock = tmp_path / "models.lock"
    lock.write_text("".join(rows))
    args = ["--lock", str(lock), "--model-dir", str(model_dir)]
    assert main(args) == 0
    assert capsys.readouterr().out.split() == ["ok", "base.bin"]
    assert main([*args, "--optional", "extra"]) == 0
    assert capsys.readouterr().out.split() == ["ok", "base.bin", "ok", "extra.bin"]
    assert main([*args, "--optional", "other"]) == 1
    assert "no optional group other" in capsys.readouterr().err
    log: list[str] = []
    ensure_optional("extra", model_dir, lock, log=log.append)
    assert log == ["ok      extra.bin"]


def test_tree_sha256_is_independent_of_file_creation_order(tmp_path: Path):
    files = {"b/2.txt": b"two", "a/1.txt": b"one", "c.txt": b"three", "a/z/9.bin": b"\x00"}
    _write_tree(tmp_path / "forward", files)
    _write_tree(tmp_path / "backward", dict(reversed(list(files.items()))))
    assert tree_sha256(tmp_path / "forward") == tree_sha256(tmp_path / "backward")
    assert HEX64.fullmatch(tree_sha256(tmp_path / "forward"))


def test_tree_sha256_matches_documented_formula(tmp_path: Path):
    files = {"b.txt": b"bee", "a/x.txt": b"ex"}
    _write_tree(tmp_path, files)
    lines = sorted(f"{rel}\0{_sha(content)}\n" for rel, content in files.items())
    assert tree_sha256(tmp_path) == _sha("".join(lines).encode())


def test_tree_sha256_changes_when_a_byte_or_a_name_changes(tmp_path: Path):
    _write_tree(tmp_path, {"a/1.txt": b"one", "b.txt": b"two"})
    before = tree_sha256(tmp_path)
    (tmp_path / "a" / "1.txt").write_bytes(b"onE")
    changed = tree_sha256(tmp_path)
    assert changed != before
    (tmp_path / "a" / "1.txt").write_bytes(b"one")
    assert tree_sha256(tmp_path) == before
    (tmp_path / "b.txt").rename(tmp_path / "c.txt")
    assert tree_sha256(tmp_path) != before


def test_extract_member_pulls_a_single_file_from_an_sdist(sdist: Path, tmp_path: Path):
    out = tmp_path / "out" / "weights.bin"
    extract_member(sdist, "pkg-1.0/model/weights.bin", (), out)
    assert out.read_bytes() == SDIST_FILES["pkg-1.0/model/weights.bin"]


def test_extract_member_pulls_a_whole_folder_from_an_sdist(sdist: Path, tmp_path: Path):
    out = tmp_path / "data"
    extract_member(sdist, "pkg-1.0/examples/data", (), out)
    prefix = "pkg-1.0/examples/data/"
    expected = {k[len(prefix) :]: v for k, v in SDIST_FILES.items() if k.startswith(prefix)}
    assert _files_under(out) == expected


def test_extract_member_include_keeps_only_named_sub_folders(sdist: Path, tmp_path: Path):
    out = tmp_path / "data"
    extract_member(sdist, "pkg-1.0/examples/data", ("train", "val"), out)
    # "training/" shares a prefix with "train" but is not included; nor are test/ or README.
    assert _files_under(out) == {
        "train/a/1.txt": b"train a1",
        "train/b/2.txt": b"train b2",
        "val/a/3.txt": b"val a3",
    }


def test_extract_member_pulls_file_and_folder_from_a_wheel(wheel: Path, tmp_path: Path):
    single = tmp_path / "x.bin"
    extract_member(wheel, "pkg/data/x.bin", (), single)
    assert single.read_bytes() == WHEEL_FILES["pkg/data/x.bin"]

    folder = tmp_path / "pkg"
    extract_member(wheel, "pkg", (), folder)
    assert _files_under(folder) == {
        "__init__.py": WHEEL_FILES["pkg/__init__.py"],
        "data/x.bin": WHEEL_FILES["pkg/data/x.bin"],
        "data/sub/y.bin": WHEEL_FILES["pkg/data/sub/y.bin"],
    }

    only_data = tmp_path / "only_data"
    extract_member(wheel, "pkg", ("data",), only_data)
    assert set(_files_under(only_data)) == {"data/x.bin", "data/sub/y.bin"}


@pytest.mark.parametrize("archive_fixture", ["sdist", "wheel"])
def test_extract_member_raises_fetch_error_for_missing_member(
    archive_fixture: str, request: pytest.FixtureRequest, tmp_path: Path
):
    archive = request.getfixturevalue(archive_fixture)
    with pytest.raises(FetchError, match="not inside"):
        extract_member(archive, "no/such/thing", (), tmp_path / "out")
    with pytest.raises(FetchError, match="not inside"):
        # an include that names no existing sub-folder also extracts nothing
        member = "pkg-1.0/examples/data" if archive_fixture == "sdist" else "pkg"
        extract_member(archive, member, ("nope",), tmp_path / "out2")
    assert not (tmp_path / "out").exists()


# --- network: these download six==1.16.0 from PyPI with pip -------------------------------


@pytest.fixture(scope="module")
def six_asset(tmp_path_factory: pytest.TempPathFactory) -> Asset:
    """An Asset for six.py in the six 1.16.0 wheel, hashes computed from a real download."""
    dest = tmp_path_factory.mktemp("six-download")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary", ":all:"]
    result = subprocess.run(
        [*cmd, "-d", str(dest), SIX_SPEC], capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        pytest.skip(f"pip download {SIX_SPEC} failed (no network?): {result.stderr[-300:]}")
    (wheel_path,) = dest.glob("six-1.16.0-*.whl")
    with zipfile.ZipFile(wheel_path) as zf:
        six_py = zf.read("six.py")
    return Asset(
        name="six.py",
        kind="model",
        package=SIX_SPEC,
        dist="wheel",
        archive_sha256=file_sha256(wheel_path),
        path="six.py",
        sha256=_sha(six_py),
    )


@pytest.mark.network
def test_network_fetch_downloads_verifies_then_reuses(six_asset: Asset, tmp_path: Path):
    model_dir = tmp_path / "models"
    first_log: list[str] = []
    fetch([six_asset], model_dir, log=first_log.append)
    target = model_dir / "six.py"
    assert target.is_file()
    assert file_sha256(target) == six_asset.sha256
    assert any(line.startswith("fetch") and SIX_SPEC in line for line in first_log)
    assert any(line.startswith("ok") and "six.py (verified)" in line for line in first_log)
    assert sorted(p.name for p in model_dir.iterdir()) == ["six.py"]  # no temp left behind

    second_log: list[str] = []
    fetch([six_asset], model_dir, log=second_log.append)
    assert second_log == ["ok      six.py"]


@pytest.mark.network
def test_network_fetch_replaces_a_tampered_file(six_asset: Asset, tmp_path: Path):
    model_dir = tmp_path / "models"
    model_dir.mkdir()
    (model_dir / "six.py").write_text("tampered\n")
    log: list[str] = []
    fetch([six_asset], model_dir, log=log.append)
    assert file_sha256(model_dir / "six.py") == six_asset.sha256
    assert any(line.startswith("fetch") for line in log)


@pytest.mark.network
@pytest.mark.parametrize("field", ["archive_sha256", "sha256"])
def test_network_fetch_with_wrong_sha256_raises_does_not_match(
    six_asset: Asset, field: str, tmp_path: Path
):
    wrong = dataclasses.replace(six_asset, **{field: "0" * 64})
    model_dir = tmp_path / "models"
    with pytest.raises(FetchError, match="does not match") as info:
        fetch([wrong], model_dir, log=lambda line: None)
    assert "0" * 64 in str(info.value)
    assert list(model_dir.iterdir()) == []  # nothing installed, temp folder cleaned up
