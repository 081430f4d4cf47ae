"""The wheel holds every module and asset of the mapped folders, and nothing imports them bare."""

from __future__ import annotations

import fcntl
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# repository folder -> package inside the wheel (must agree with pyproject.toml's package-dir)
MAPPED = {"core": "equimanip", "envs": "equimanip/envs", "agents": "equimanip/agents",
          "policies": "equimanip/policies", "assets": "equimanip/assets"}
ASSET_SUFFIXES = {".urdf", ".obj", ".png", ".json", ".md", ".pt"}


def expected_files() -> set[str]:
    out = set()
    for folder, package in MAPPED.items():
        for path in (ROOT / folder).rglob("*"):
            if "__pycache__" in path.parts or not path.is_file():
                continue
            if path.suffix == ".py" or (folder == "assets" and path.suffix in ASSET_SUFFIXES):
                out.add(f"{package}/{path.relative_to(ROOT / folder).as_posix()}")
    return out


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    out = tmp_path_factory.mktemp("wheel")
    # setuptools builds in the source tree's build/ folder: two xdist workers building at once would
    # collide there, so builds take turns
    with open(ROOT / "build.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out), str(ROOT)],
                       check=True, capture_output=True, text=True)
    (path,) = out.glob("equimanip-*.whl")
    return zipfile.ZipFile(path)


def test_every_module_and_asset_is_in_the_wheel(wheel):
    names = set(wheel.namelist())
    missing = sorted(expected_files() - names)
    assert not missing, f"missing from the wheel (add the sub-package to pyproject.toml): {missing}"


def test_wheel_has_the_console_script(wheel):
    entry_points = next(n for n in wheel.namelist() if n.endswith("entry_points.txt"))
    assert "equimanip = equimanip.cli:main" in wheel.read(entry_points).decode()


def test_every_package_folder_is_listed_in_pyproject():
    text = (ROOT / "pyproject.toml").read_text()
    for folder, package in MAPPED.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            rel = init.parent.relative_to(ROOT / folder).as_posix()
            dotted = package.replace("/", ".") + ("" if rel == "." else "." + rel.replace("/", "."))
            assert f'"{dotted}"' in text, f"{dotted} is not listed in pyproject.toml"


BARE = ("envs", "agents", "policies", "assets", "core")


def test_nothing_imports_the_folders_by_their_bare_names():
    """`import envs` would work from the repo root and register every task twice."""
    offenders = []
    for path in ROOT.rglob("*.py"):
        if ".venv" in path.parts or "build" in path.parts:
            continue
        for line in path.read_text().splitlines():
            stripped = line.strip()
            for name in BARE:
                if stripped.startswith((f"import {name}", f"from {name} import", f"from {name}.")):
                    offenders.append(f"{path.relative_to(ROOT)}: {stripped}")
    assert not offenders, offenders


@pytest.mark.parametrize("module", ["equimanip", "equimanip.policies", "equimanip.symmetry", "equimanip.agents",
                                    "equimanip.robots", "equimanip.ros"])
def test_importing_does_not_load_a_simulator(module):
    """Registering the environments, and the policies above all, must not load a physics engine."""
    code = f"import sys, {module}; print(sorted(m for m in ('pybullet', 'mujoco') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
