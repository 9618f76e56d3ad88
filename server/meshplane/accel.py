"""Compiled translate/: built with mypyc, loaded only while it matches the sources.

translate/ is plain, typed Python and stays the reference implementation. `make` compiles its
modules with mypyc (mypy's compiler: each module becomes a C extension with the same
semantics; a full rebuild of a 2,000-node mesh runs ~1.35x faster, docs/benchmarks.md) into
``build/accel/`` at the repository root, and records a stamp: a SHA-256 over the compiled
sources and the interpreter's extension ABI.

`extend_path` (called by ``meshplane/translate/__init__.py``, which is never compiled) puts the
compiled modules ahead of the sources only while the stamp matches the sources on disk, so an
edited module can never run stale native code: it runs as Python until the next ``make``, and
the reason is logged. ``MESHPLANE_ACCEL=0`` forces plain Python (to debug or compare).

Build: ``python -m meshplane.accel build`` (needs mypy, from the ``accel`` extra, and a C
compiler); ``python -m meshplane.accel status`` says what runs.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

ENV = "MESHPLANE_ACCEL"
# The packages compiled, each as a whole (every module but __init__, which loads the rest).
PACKAGES = ("meshplane.translate",)
# mypyc puts the code of every module in one shared library named <group>__mypyc, imported by
# top-level name; it lives in a directory of its own on sys.path.
GROUP = "meshplane_accel"
SOURCE_ROOT = Path(__file__).resolve().parent.parent  # server/
DEFAULT_ROOT = SOURCE_ROOT.parent / "build" / "accel"
STAMP = "STAMP"
PACKAGE_DIR = "packages"  # <root>/packages/meshplane/translate/*.so
LIBRARY_DIR = "library"  # <root>/library/meshplane_accel__mypyc.*.so

# package -> what runs: "compiled" or why not (for logs, `status` and the benchmarks).
STATUS: dict[str, str] = {}


def sources(source_root: Path = SOURCE_ROOT) -> list[Path]:
    """The compiled modules' sources, sorted (every package's modules but ``__init__.py``)."""
    found: list[Path] = []
    for package in PACKAGES:
        directory = source_root / package.replace(".", "/")
        found.extend(path for path in sorted(directory.glob("*.py")) if path.name != "__init__.py")
    return found


def digest(source_root: Path = SOURCE_ROOT) -> str:
    """SHA-256 over the sources' names and bytes and the interpreter's extension ABI."""
    h = hashlib.sha256()
    h.update(f"{sys.implementation.cache_tag} {sysconfig.get_config_var('EXT_SUFFIX')}\n".encode())
    for path in sources(source_root):
        h.update(path.relative_to(source_root).as_posix().encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    return h.hexdigest()


def extend_path(package: str, path: list[str], root: Path = DEFAULT_ROOT) -> list[str]:
    """The ``__path__`` for ``package``: its compiled modules first when they are current.

    Records in `STATUS` what runs, and logs why when it is not the compiled code.
    """
    compiled = root / PACKAGE_DIR / package.replace(".", "/")
    if os.environ.get(ENV, "1").strip().lower() in ("0", "false", "no", "off"):
        return _use_python(package, path, f"plain Python ({ENV}=0)", quiet=True)
    stamp = root / STAMP
    if not stamp.is_file() or not compiled.is_dir():
        return _use_python(package, path, f"plain Python (no compiled build at {root}: run `make`)", quiet=True)
    if stamp.read_text().strip() != digest(Path(path[0]).parents[package.count(".")]):
        # Sources edited since the build (or another interpreter): never run stale native code.
        return _use_python(package, path, "plain Python (the compiled build does not match the sources: run `make`)")
    library = str(root / LIBRARY_DIR)
    if library not in sys.path:
        sys.path.append(library)
    STATUS[package] = "compiled"
    return [str(compiled), *path]


def _use_python(package: str, path: list[str], why: str, quiet: bool = False) -> list[str]:
    STATUS[package] = why
    (log.info if quiet else log.warning)("%s: %s", package, why)
    return path


def build(root: Path = DEFAULT_ROOT, source_root: Path = SOURCE_ROOT) -> None:
    """Compile `PACKAGES` with mypyc into ``root`` (replaced whole, so a running process never
    sees half a build) and write the stamp. Raises CalledProcessError when compiling fails."""
    root.parent.mkdir(parents=True, exist_ok=True)
    stamp = digest(source_root)  # of the sources as they were when the compiler read them
    with tempfile.TemporaryDirectory(dir=root.parent, prefix=".accel-") as work:
        out = Path(work) / "out"
        script = (
            "import sys\n"
            "from setuptools import setup\n"
            "from mypyc.build import mypycify\n"
            "paths = sys.argv[1:]\n"
            f"modules = mypycify(paths, opt_level='3', group_name={GROUP!r}, target_dir={str(Path(work) / 'c')!r})\n"
            "setup(name='meshplane-accel', ext_modules=modules, script_args=["
            f"'build_ext', '--build-lib', {str(out)!r}, '--build-temp', {str(Path(work) / 'tmp')!r}])\n"
        )
        paths = [str(path.relative_to(source_root)) for path in sources(source_root)]
        # mypycify names modules after their paths, so it runs from server/.
        subprocess.run([sys.executable, "-c", script, *paths], cwd=source_root, check=True)
        staged = Path(work) / "accel"
        (staged / LIBRARY_DIR).mkdir(parents=True)
        for library in out.glob(f"{GROUP}__mypyc*"):
            library.rename(staged / LIBRARY_DIR / library.name)
        out.rename(staged / PACKAGE_DIR)
        (staged / STAMP).write_text(stamp + "\n")
        if root.exists():
            shutil.rmtree(root)
        staged.rename(root)


def main(argv: list[str]) -> int:
    """``build`` or ``status`` (see the module docstring)."""
    command = argv[0] if argv else "status"
    if command == "build":
        build()
        print(f"compiled {', '.join(PACKAGES)} into {DEFAULT_ROOT}")
        return 0
    if command == "status":
        # Run as __main__, this module's globals are not meshplane.accel's: read that one's.
        import meshplane.translate  # noqa: F401  (records its status)
        from meshplane import accel

        for package in PACKAGES:
            print(f"{package}: {accel.STATUS.get(package, 'not loaded')}")
        return 0
    print(f"usage: python -m meshplane.accel build|status (not {command!r})", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
