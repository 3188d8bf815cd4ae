"""Build the project's wheel and install it into a fresh venv, as a new user would, offline.

The dependencies come from a wheelhouse repacked from the distributions this venv has
installed (the exact files, versions and metadata that the source tree runs on), and pip
installs the project's wheel from it with ``--no-index``: pip resolves the wheel's own
Requires-Dist, so a dependency it forgets to declare is missing in the fresh venv, one it
no longer needs (honcho) is not installed, and the project's code comes only from the
wheel. Of an install from the index, only the archives differ (the installed files, not
the downloaded ones), and the index's minutes and network go: the whole round (build,
repack, venv, install) takes a few seconds. Sharing this venv's site-packages through a
.pth would be faster still, but would hide every one of those mistakes.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import sys
import zipfile
from email.parser import Parser
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

SOURCE_ROOT = Path(__file__).resolve().parents[2]
# What a checkout accumulates that is not source: the build must not see (nor write) it.
NOT_SOURCE = (".git", ".venv", "data", "build", "dist", "*.egg-info", "__pycache__", ".*_cache")
# What pip writes into an installed distribution about that install, not the package.
INSTALL_RECORDS = {"INSTALLER", "REQUESTED", "direct_url.json"}
PIP_TIMEOUT = 120


def build_wheel(work: Path) -> Path:
    """Build the project's wheel from a copy of the source tree; return its path.

    Built with this venv's setuptools (``--no-build-isolation``), so no index is asked
    for a build backend; the copy keeps build/ and *.egg-info out of the checkout.
    """
    source = work / "source"
    shutil.copytree(SOURCE_ROOT, source, ignore=shutil.ignore_patterns(*NOT_SOURCE))
    out = work / "dist"
    _pip("wheel", "--no-deps", "--no-build-isolation", "--no-index", "-w", str(out), str(source))
    (wheel,) = out.glob("*.whl")
    return wheel


def wheel_requirements(wheel: Path) -> list[str]:
    """Return the Requires-Dist of ``wheel`` outside its extras: what a plain install needs."""
    with zipfile.ZipFile(wheel) as archive:
        (name,) = (n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        fields = Parser().parsestr(archive.read(name).decode())
    requirements = [Requirement(r) for r in fields.get_all("Requires-Dist") or []]
    return [str(r) for r in requirements if r.marker is None or r.marker.evaluate({"extra": ""})]


def repack_installed(requirements: list[str], out: Path) -> list[Path]:
    """Write a wheel for each installed distribution ``requirements`` need, transitively."""
    out.mkdir(parents=True, exist_ok=True)
    return [_repack(dist, out) for dist in _closure(requirements)]


def install_into_fresh_venv(venv: Path, wheel: Path, wheelhouse: Path) -> Path:
    """Create ``venv``, install ``wheel`` with its dependencies from ``wheelhouse`` only;
    return the venv's ``mdbx`` executable."""
    # The base interpreter, not this venv's: nothing of this venv is visible from there.
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    # This venv's pip installs into the fresh one (--python). --no-compile: byte-compiling
    # every dependency would cost seconds that the few modules a start imports do not.
    wheels = ["--no-index", "--find-links", str(wheelhouse), "--no-compile", str(wheel)]
    _pip("--python", str(venv / "bin" / "python"), "install", *wheels)
    return venv / "bin" / "mdbx"


def _pip(*args: str) -> None:
    subprocess.run(
        [sys.executable, "-m", "pip", "--quiet", "--disable-pip-version-check", *args],
        check=True,
        timeout=PIP_TIMEOUT,
    )


def _closure(requirements: list[str]) -> list[metadata.Distribution]:
    """The installed distributions ``requirements`` resolve to, with their extras' needs."""
    found: dict[str, metadata.Distribution] = {}
    seen: set[tuple[str, frozenset[str]]] = set()
    pending = [Requirement(r) for r in requirements]
    while pending:
        requirement = pending.pop()
        key = (canonicalize_name(requirement.name), frozenset(requirement.extras))
        if key in seen:
            continue
        seen.add(key)
        dist = found.setdefault(key[0], metadata.distribution(requirement.name))
        # A dependency's marker is evaluated for the extras asked of its parent.
        extras = requirement.extras or {""}
        for line in dist.requires or []:
            needed = Requirement(line)
            if needed.marker is None or any(needed.marker.evaluate({"extra": e}) for e in extras):
                pending.append(needed)
    return list(found.values())


def _repack(dist: metadata.Distribution, out: Path) -> Path:
    """Zip an installed distribution's files back into a wheel, with a fresh RECORD."""
    tags = [
        tag.split("-")
        for tag in Parser().parsestr(dist.read_text("WHEEL") or "").get_all("Tag") or []
    ]
    # The compressed tag set of the file name (py2.py3-none-any), from the expanded one.
    tag = "-".join(".".join(sorted({parts[i] for parts in tags})) for i in range(3))
    name = canonicalize_name(dist.metadata["Name"]).replace("-", "_")
    path = out / f"{name}-{dist.version}-{tag}.whl"
    files = dist.files
    if not files:  # a distribution pip did not install lists none
        raise RuntimeError(f"{name} {dist.version} has no RECORD to repack: reinstall it")
    (record_name,) = (f.as_posix() for f in files if f.match("*.dist-info/RECORD"))
    records: list[str] = []
    # Stored, not deflated: the wheelhouse lives for one test session.
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for file in files:
            member = file.as_posix()
            # Scripts outside site-packages are made again from entry_points.txt; caches
            # and install records are not part of the distribution.
            skipped = member.startswith("..") or "__pycache__" in file.parts
            about_install = file.parent.name.endswith(".dist-info") and (
                file.name in INSTALL_RECORDS or member == record_name
            )
            if skipped or about_install:
                continue
            data = Path(str(file.locate())).read_bytes()
            archive.writestr(member, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            records.append(f"{member},sha256={digest.decode()},{len(data)}")
        records.append(f"{record_name},,")
        archive.writestr(record_name, "\n".join(records) + "\n")
    return path
