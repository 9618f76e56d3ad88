"""The mypyc-compiled translate/ (meshplane.accel): used after `make`, identical output, never stale."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import meshplane.translate
from meshplane import accel

DIGEST = Path(__file__).with_name("translate_digest.py")
TRANSLATE_PATH = [str(Path(accel.SOURCE_ROOT) / "meshplane" / "translate")]


def run_digest(**env: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, str(DIGEST)], env={**os.environ, **env}, capture_output=True, text=True, timeout=300, check=True
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def test_the_suite_runs_the_compiled_translate_that_make_builds() -> None:
    status = accel.STATUS["meshplane.translate"]
    if os.environ.get(accel.ENV) == "0":
        assert status == "plain Python (MESHPLANE_ACCEL=0)"
        return
    assert status == "compiled", f"translate runs as {status}; `make` (or `make accel`) builds it"
    assert meshplane.translate.build.__file__.endswith(".so")  # type: ignore[attr-defined]


def test_compiled_and_plain_python_translate_build_the_same_bytes() -> None:
    compiled = run_digest(**{accel.ENV: "1"})
    plain = run_digest(**{accel.ENV: "0"})
    assert compiled["status"] == "compiled"
    assert plain["status"] == "plain Python (MESHPLANE_ACCEL=0)"
    cases = plain["cases"]
    assert isinstance(cases, dict) and len(cases) > 200
    # The corpus is varied (mutations change the output), and neither build ever crashes on it.
    assert len(set(cases.values())) > 200
    assert compiled["errors"] == plain["errors"] == 0
    different = [case for case in cases if compiled["cases"][case] != cases[case]]  # type: ignore[index]
    assert different == []


@pytest.fixture
def build_root(tmp_path: Path) -> Path:
    root = tmp_path / "accel"
    (root / accel.PACKAGE_DIR / "meshplane" / "translate").mkdir(parents=True)
    (root / accel.LIBRARY_DIR).mkdir()
    return root


def test_a_build_older_than_the_sources_is_not_used(build_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(accel.STATUS, "meshplane.translate", "")
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delenv(accel.ENV, raising=False)  # the suite may run with MESHPLANE_ACCEL=0
    (build_root / accel.STAMP).write_text("0" * 64 + "\n")  # the digest of some other sources
    assert accel.extend_path("meshplane.translate", TRANSLATE_PATH, build_root) == TRANSLATE_PATH
    assert "does not match the sources" in accel.STATUS["meshplane.translate"]

    (build_root / accel.STAMP).write_text(accel.digest() + "\n")  # now it matches them
    path = accel.extend_path("meshplane.translate", TRANSLATE_PATH, build_root)
    assert path == [str(build_root / accel.PACKAGE_DIR / "meshplane" / "translate"), *TRANSLATE_PATH]
    assert accel.STATUS["meshplane.translate"] == "compiled"
    assert str(build_root / accel.LIBRARY_DIR) in sys.path


def test_no_build_or_accel_switched_off_runs_plain_python(build_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(accel.STATUS, "meshplane.translate", "")
    monkeypatch.delenv(accel.ENV, raising=False)
    assert accel.extend_path("meshplane.translate", TRANSLATE_PATH, build_root) == TRANSLATE_PATH  # no stamp
    assert "no compiled build" in accel.STATUS["meshplane.translate"]
    (build_root / accel.STAMP).write_text(accel.digest() + "\n")
    monkeypatch.setenv(accel.ENV, "0")
    assert accel.extend_path("meshplane.translate", TRANSLATE_PATH, build_root) == TRANSLATE_PATH
    assert accel.STATUS["meshplane.translate"] == "plain Python (MESHPLANE_ACCEL=0)"


def test_the_digest_covers_every_compiled_source_and_changes_with_any(tmp_path: Path) -> None:
    sources = accel.sources()
    assert {path.name for path in sources} == {
        path.name for path in Path(TRANSLATE_PATH[0]).glob("*.py") if path.name != "__init__.py"
    }
    copy = tmp_path / "meshplane" / "translate"
    copy.mkdir(parents=True)
    for path in sources:
        (copy / path.name).write_bytes(path.read_bytes())
    assert accel.digest(tmp_path) == accel.digest()
    (copy / "routes.py").write_text((copy / "routes.py").read_text() + "\n# edited\n")
    assert accel.digest(tmp_path) != accel.digest()
