"""Object sets for the grasping benchmark: any folder of URDF objects, or the default set that
installs with pybullet (``pybullet_data/random_urdfs``) split into fixed train/test ids.

The split lives in ``assets/grasp/random_urdfs_split.json``, written by
``scripts/select_grasp_objects.py`` (which also drops objects whose meshes are broken or unstable).
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path

import pybullet_data

DEFAULT_SETS = ("random-urdfs-train", "random-urdfs-test")
SCALINGS = ("normalize", "vgn")


@dataclass(frozen=True)
class ObjectSet:
    """URDF files to draw scene objects from, and how to size them.

    ``scaling="normalize"`` rescales each object so that its longest bounding-box side is drawn
    from ``size_range`` (for meshes of arbitrary size, such as ``random_urdfs``); ``"vgn"`` keeps
    the URDF's size, as the VGN object sets are made for the Franka hand, times a random factor
    (pile 0.8–1.0, packed 0.7–0.9, as VGN does).
    """

    name: str
    urdfs: tuple[str, ...]
    scaling: str = "vgn"
    size_range: tuple[float, float] = (0.05, 0.075)

    def __post_init__(self) -> None:
        if not self.urdfs:
            raise ValueError(f"object set {self.name!r} has no URDF files")
        if self.scaling not in SCALINGS:
            raise ValueError(f"unknown scaling {self.scaling!r}; accepted: {', '.join(SCALINGS)}")


def _split() -> dict:
    return json.loads(files("equimanip.assets").joinpath("grasp/random_urdfs_split.json").read_text())


def random_urdf_path(object_id: int) -> str:
    return os.path.join(pybullet_data.getDataPath(), "random_urdfs", f"{object_id:03d}", f"{object_id:03d}.urdf")


def _held_out(path: str) -> bool:
    """Fixed 80/20 split of a folder's objects by a hash of the file name (stable across machines)."""
    return int(hashlib.sha1(os.path.basename(path).encode()).hexdigest(), 16) % 5 == 0


def load_object_set(spec: str | os.PathLike, *, scaling: str | None = None) -> ObjectSet:
    """An object set by name (``random-urdfs-train``, ``random-urdfs-test``) or from a folder of
    URDFs (searched recursively); ``FOLDER#train`` / ``FOLDER#test`` take a fixed 80 % / 20 % split
    of the folder (by a hash of each file name), so a model trained on one half can be evaluated
    on objects it never saw. Folders default to ``vgn`` scaling, the named sets to ``normalize``."""
    text = str(spec)
    part = None
    if "#" in text:
        text, part = text.rsplit("#", 1)
        if part not in ("train", "test"):
            raise ValueError(f"objects: unknown split {part!r} in {str(spec)!r}; accepted: FOLDER#train, FOLDER#test")
    if text in DEFAULT_SETS:
        split = _split()
        ids = split["train" if text.endswith("train") else "test"]
        return ObjectSet(text, tuple(random_urdf_path(i) for i in ids), scaling=scaling or "normalize")
    folder = Path(text).expanduser().resolve()
    if not folder.is_dir():
        raise ValueError(f"objects: {text!r} is neither a folder of URDF files nor one of {', '.join(DEFAULT_SETS)}")
    urdfs = tuple(sorted(str(p) for p in folder.rglob("*.urdf")))
    if not urdfs:
        raise ValueError(f"objects: no .urdf files under {folder}")
    if part is not None:
        urdfs = tuple(u for u in urdfs if _held_out(u) == (part == "test"))
    default = "normalize" if Path(pybullet_data.getDataPath(), "random_urdfs") in (folder.resolve(), *folder.resolve().parents) \
        else "vgn"
    return ObjectSet(folder.name + (f"#{part}" if part else ""), urdfs, scaling=scaling or default)
