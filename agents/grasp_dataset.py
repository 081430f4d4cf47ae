"""On-disk format of labelled edge-grasp data: what ``equimanip grasp generate`` writes and
``equimanip grasp train`` reads.

A dataset is a folder::

    DATA/meta.json           written by the generator; readers check its ``format_version``
    DATA/shard-00000.npz     S scenes concatenated (written atomically, so a crash leaves no half shard)
    DATA/shard-00001.npz     ...

Each shard holds, for its S scenes:

    points        (ΣN, 3) float32   preprocessed cloud (table frame: table plane z = 0)
    normals       (ΣN, 3) float32   unit outward normals
    point_offsets (S+1,)  int64     scene i owns points[point_offsets[i]:point_offsets[i+1]]
    edges         (ΣE, 2) int32     scene-local point indices (approach, contact)
    labels        (ΣE,)   uint8     1 = the simulated grasp succeeded
    edge_offsets  (S+1,)  int64     scene i owns edges[edge_offsets[i]:edge_offsets[i+1]]
    scene_seeds   (S,)    int64     seed that rebuilds scene i
    extra         (ΣE,)   float32   optional: how much deeper than Edge Grasp's construction each labelled hand
                                    went (m; ``grasp generate --deepen``); absent means zeros
    viewpoints    (S, 3)  float64   optional: the camera position each scene was seen from (table frame); absent
                                    in data written before it was kept (``scripts/grasp_add_viewpoints.py`` adds it)

In memory a scene is a dict with keys ``points``, ``normals``, ``edges``, ``labels``, ``scene_seed``, ``extra`` and
``viewpoint`` (``(3,)`` or ``None``).
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import numpy as np

from equimanip.atomic import atomic_path, write_json

FORMAT_VERSION = 1
SHARD_KEYS = ("points", "normals", "point_offsets", "edges", "labels", "edge_offsets", "scene_seeds")
SCENE_KEYS = ("points", "normals", "edges", "labels", "scene_seed")
OPTIONAL_SHARD_KEYS = ("extra", "viewpoints")


def shard_path(folder: str | os.PathLike, index: int) -> Path:
    """``folder/shard-{index:05d}.npz``."""
    return Path(folder) / f"shard-{index:05d}.npz"


def _check_scene(i: int, scene: dict) -> dict:
    missing = [k for k in SCENE_KEYS[:-1] if k not in scene]
    if missing:
        raise ValueError(f"scene {i}: missing {', '.join(missing)} (a scene needs {', '.join(SCENE_KEYS)})")
    points = np.asarray(scene["points"], dtype=np.float32)
    normals = np.asarray(scene["normals"], dtype=np.float32)
    edges = np.asarray(scene["edges"])
    labels = np.asarray(scene["labels"])
    if points.ndim != 2 or points.shape[1] != 3 or normals.shape != points.shape:
        raise ValueError(f"scene {i}: points and normals must both be (N, 3); got {points.shape}, {normals.shape}")
    if edges.size == 0:
        edges = edges.reshape(0, 2)
    if edges.ndim != 2 or edges.shape[1] != 2 or not np.issubdtype(edges.dtype, np.integer):
        raise ValueError(f"scene {i}: edges must be an (E, 2) integer array; got {edges.shape} {edges.dtype}")
    if edges.size and (edges.min() < 0 or edges.max() >= len(points)):
        raise ValueError(f"scene {i}: edges index points outside [0, {len(points)})")
    if labels.shape != (len(edges),) or (labels.size and not np.isin(labels, (0, 1)).all()):
        raise ValueError(f"scene {i}: labels must be {len(edges)} values in {{0, 1}}; got shape {labels.shape}")
    if not (np.isfinite(points).all() and np.isfinite(normals).all()):
        raise ValueError(f"scene {i}: points and normals must be finite")
    extra = np.asarray(scene["extra"] if scene.get("extra") is not None else np.zeros(len(edges)), dtype=np.float32)
    if extra.shape != (len(edges),) or not np.isfinite(extra).all() or (extra < 0).any():
        raise ValueError(f"scene {i}: extra must be {len(edges)} finite depths ≥ 0 (m); got shape {extra.shape}")
    viewpoint = scene.get("viewpoint")
    if viewpoint is not None:
        viewpoint = np.asarray(viewpoint, dtype=np.float64).reshape(-1)
        if viewpoint.shape != (3,) or not np.isfinite(viewpoint).all():
            raise ValueError(f"scene {i}: viewpoint must be a finite camera position (3,); got {viewpoint.tolist()}")
    return {"points": points, "normals": normals, "edges": edges.astype(np.int32), "labels": labels.astype(np.uint8),
            "scene_seed": int(scene.get("scene_seed", -1)), "extra": extra, "viewpoint": viewpoint}


def write_shard(path: str | os.PathLike, scenes: list[dict]) -> Path:
    """Write scenes into one shard, atomically.

    Args:
        path: the shard file (``shard_path(folder, i)``); its folder is created.
        scenes: dicts with ``points`` (N, 3), ``normals`` (N, 3), ``edges`` (E, 2) scene-local
            indices, ``labels`` (E,) in {0, 1} and optionally ``scene_seed`` (int; -1 when absent) and
            ``extra`` (E,) depths (m; zeros when absent: written only when some scene has one above 0) and
            ``viewpoint`` (3,) (the camera position; written when every scene has one).

    Returns:
        The path written.

    Raises:
        ValueError: a malformed scene (named by its position).
    """
    checked = [_check_scene(i, s) for i, s in enumerate(scenes)]
    arrays = {
        "points": np.concatenate([s["points"] for s in checked] or [np.zeros((0, 3), np.float32)]),
        "normals": np.concatenate([s["normals"] for s in checked] or [np.zeros((0, 3), np.float32)]),
        "point_offsets": np.cumsum([0] + [len(s["points"]) for s in checked]).astype(np.int64),
        "edges": np.concatenate([s["edges"] for s in checked] or [np.zeros((0, 2), np.int32)]),
        "labels": np.concatenate([s["labels"] for s in checked] or [np.zeros(0, np.uint8)]),
        "edge_offsets": np.cumsum([0] + [len(s["edges"]) for s in checked]).astype(np.int64),
        "scene_seeds": np.array([s["scene_seed"] for s in checked], dtype=np.int64),
    }
    extra = np.concatenate([s["extra"] for s in checked] or [np.zeros(0, np.float32)])
    if (extra > 0).any():  # depth-blind data keeps the format that readers before extra depths read
        arrays["extra"] = extra
    if checked and all(s["viewpoint"] is not None for s in checked):
        arrays["viewpoints"] = np.stack([s["viewpoint"] for s in checked])
    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)  # a file object: numpy would append ".npz" to a bare name; noisy floats barely compress
    return path


def write_meta(folder: str | os.PathLike, **info) -> Path:
    """Write ``folder/meta.json`` with ``format_version`` and ``info`` (what the generator records)."""
    path = Path(folder) / "meta.json"
    write_json(path, {"format_version": FORMAT_VERSION, **info})
    return path


def read_shard(path: str | os.PathLike) -> list[dict]:
    """The scenes of one shard (see the module docstring), with clear errors for a bad file."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in SHARD_KEYS if k not in data.files]
            if missing:
                raise ValueError(f"{path}: not a grasp shard (missing {', '.join(missing)})")
            arrays = {k: data[k] for k in SHARD_KEYS + OPTIONAL_SHARD_KEYS if k in data.files}
    except FileNotFoundError:
        raise ValueError(f"{path}: no such shard") from None
    except (zipfile.BadZipFile, EOFError, OSError, KeyError) as err:
        raise ValueError(f"{path}: truncated or corrupted shard ({type(err).__name__}: {err}); "
                         "delete it and re-run the generator (it resumes)") from None
    arrays.setdefault("extra", np.zeros(len(arrays["edges"]), np.float32))  # data from before extra depths
    po, eo = arrays["point_offsets"], arrays["edge_offsets"]
    s = len(arrays["scene_seeds"])
    ok = (len(po) == len(eo) == s + 1 and po[0] == 0 and eo[0] == 0 and po[-1] == len(arrays["points"])
          and eo[-1] == len(arrays["edges"]) and (np.diff(po) >= 0).all() and (np.diff(eo) >= 0).all()
          and len(arrays["labels"]) == len(arrays["edges"]) and arrays["normals"].shape == arrays["points"].shape
          and arrays["extra"].shape == arrays["labels"].shape
          and arrays.get("viewpoints", np.zeros((s, 3))).shape == (s, 3))
    if not ok:
        raise ValueError(f"{path}: inconsistent shard (offsets do not match the arrays)")
    scenes = []
    for i in range(s):
        edges = arrays["edges"][eo[i]:eo[i + 1]]
        n = int(po[i + 1] - po[i])
        if edges.size and (edges.min() < 0 or edges.max() >= n):
            raise ValueError(f"{path}: scene {i} has edges outside its {n} points")
        scenes.append({"points": arrays["points"][po[i]:po[i + 1]], "normals": arrays["normals"][po[i]:po[i + 1]],
                       "edges": edges, "labels": arrays["labels"][eo[i]:eo[i + 1]],
                       "scene_seed": int(arrays["scene_seeds"][i]), "extra": arrays["extra"][eo[i]:eo[i + 1]],
                       "viewpoint": arrays["viewpoints"][i] if "viewpoints" in arrays else None})
    return scenes


def read_meta(folder: str | os.PathLike) -> dict:
    """``folder/meta.json`` (``{}`` when absent), checked: its ``format_version`` must be one this code reads."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ValueError(f"grasp dataset {folder} does not exist (make one with `equimanip grasp generate`)")
    path = folder / "meta.json"
    if not path.is_file():
        return {}
    try:
        meta = json.loads(path.read_text())
        version = int(meta["format_version"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as err:
        raise ValueError(f"{path}: unreadable ({type(err).__name__}: {err})") from None
    if version > FORMAT_VERSION:
        raise ValueError(f"{folder} has grasp data format {version}, newer than this equimanip reads ({FORMAT_VERSION})")
    return meta


def read_shards(folder: str | os.PathLike) -> list[dict]:
    """Every scene of a dataset folder, shard by shard in name order.

    Raises:
        ValueError: a missing folder, a ``meta.json`` of a newer format, no shards, a truncated or
            inconsistent shard.
    """
    read_meta(folder)
    paths = sorted(Path(folder).glob("shard-*.npz"))
    if not paths:
        raise ValueError(f"{folder} holds no shards (shard-*.npz)")
    return [scene for path in paths for scene in read_shard(path)]
