"""Demonstration datasets in the LeRobot v3.0 layout, written and read with numpy and pyarrow only.

A dataset is a folder::

    meta/info.json                             codebase_version "v3.0", fps, totals, features, paths,
                                               and an ``equimanip`` section (env id and options, seed, …)
    meta/stats.json                            min / max / mean / std / count of every feature
    meta/tasks.parquet                         task_index, task (the task in words)
    meta/episodes/chunk-000/file-000.parquet   one row per episode: index, tasks, length, seed, success,
                                               its data file, its frame range, its statistics
    data/chunk-000/file-000.parquet            frames; several episodes share a file

Frame ``t`` of an episode holds the observation before action ``t``, action ``t`` and the
``next.reward`` / ``next.done`` / ``next.success`` that followed it; the final observation of an
episode is not a frame (as in LeRobot). Features (``meta/info.json["features"]``):

==============================  =======  ===========  ======================================
name                            dtype    shape        content
==============================  =======  ===========  ======================================
observation.images.depth        float32  [1, S, S]    the env's ``depth`` observation
observation.images.rgb          uint8    [3, S, S]    ``rgb``, when the env was made with it
observation.point_cloud         float32  [N, 3]       ``point_cloud``, when asked for
observation.environment_state   float32  [D]          the privileged ``state``, when asked for
observation.holding             float32  [1]          the env's ``holding`` observation
observation.state               float32  [9]          ``env.proprio()`` (names: ``PROPRIO_NAMES``)
action                          float32  [5]          p, dx, dy, dz, dtheta (the expert's action)
next.reward / .done / .success  f32/bool [1]          after the action
timestamp                       float32  [1]          frame_index / fps
frame_index, episode_index,     int64    [1]          LeRobot's bookkeeping (task_index is 0:
index, task_index                                     one task per dataset)
==============================  =======  ===========  ======================================

Depth is stored exactly: as a float32 tensor column (one fixed-size list of ``S·S`` floats per
frame), not as a lossy video as LeRobot does for camera images, so what a policy learns from is
bit-for-bit what the env rendered. RGB is stored the same way (uint8). Features of shape ``[1]``
are plain scalar columns, larger ones fixed-size lists flattened in C order and reshaped on read;
``video_path`` is null.

Writing is crash-safe: every file is written to a temporary file and renamed over the target, and
``meta/info.json`` is written last, so it marks what is committed. A reader trusts the first
``total_episodes`` episodes of ``meta/episodes`` only; a resumed writer deletes data files that no
committed episode references and leftover temporary files.

Reading: :meth:`Dataset.open`; writing: :class:`DatasetWriter` (used by :func:`equimanip.collect.collect`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from equimanip.atomic import atomic_path, write_json

__all__ = ["CODEBASE_VERSION", "FPS", "ACTION_NAMES", "OBSERVATION_FEATURES", "LAYOUT_OPTIONS", "Dataset", "DatasetWriter",
           "resolve_env", "features_for_env", "task_description"]

CODEBASE_VERSION = "v3.0"
ROBOT_TYPE = "panda"
FPS = 10  # one action per env step; the tabletop envs render videos at 10 fps too
CHUNKS_SIZE = 1000
DATA_FILES_SIZE_IN_MB = 100
VIDEO_FILES_SIZE_IN_MB = 500
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
EPISODES_PATH = "meta/episodes/chunk-000/file-000.parquet"
EXPERT = "scripted"
ACTION_NAMES = ("p", "dx", "dy", "dz", "dtheta")
# env observation key -> dataset feature (LeRobot's names where LeRobot has one)
OBSERVATION_FEATURES = {
    "depth": "observation.images.depth",
    "rgb": "observation.images.rgb",
    "point_cloud": "observation.point_cloud",
    "state": "observation.environment_state",
    "holding": "observation.holding",
}
PROPRIO_FEATURE = "observation.state"
# Env options that change what an observation or an action means: a policy trained on the dataset
# only fits an env that agrees on these (and on the task's own options). The rest (corruptions,
# shadows, substeps) may differ, e.g. to evaluate under a distribution shift.
LAYOUT_OPTIONS = ("camera", "image_size", "view_size", "context_view", "side_elevation_deg", "observations", "num_points",
                  "dpos", "drot")
UNRECORDED_OPTIONS = ("render_mode", "render_size")  # only change env.render(), which is not recorded
STATS = ("min", "max", "mean", "std", "count")
# the temporary files equimanip.atomic.atomic_path leaves behind when a process dies mid-write
_TEMP_FILE = re.compile(r"^\.(file-\d+\.parquet|info\.json|stats\.json|tasks\.parquet)\..+")
_DATA_FILE = re.compile(r"^file-(\d+)\.parquet$")
_CHUNK_DIR = re.compile(r"^chunk-(\d+)$")
_EPISODE_COLUMNS = ("episode_index", "tasks", "length", "seed", "success", "data/chunk_index", "data/file_index",
                    "dataset_from_index", "dataset_to_index")


# ------------------------------------------------------------------------------------------------
# Env description
def resolve_env(env_id: str, env_options: dict[str, Any] | None = None) -> tuple[str, dict[str, Any], dict[str, Any]]:
    """``(canonical id, options as recorded, every option's effective value)``, JSON-normalised.

    Unknown ids or options raise ``ValueError``. ``render_mode``/``render_size`` are dropped (they
    only change ``env.render()``). The effective values include the defaults, so ``{}`` and
    ``{"image_size": 128}`` resolve alike.
    """
    from equimanip.envs import task_class
    from equimanip.envs.tabletop import EnvOptions

    cls = task_class(env_id)
    given = {k: v for k, v in dict(env_options or {}).items() if k not in UNRECORDED_OPTIONS}
    options, task_kwargs = EnvOptions.from_kwargs(cls.__name__, extra=tuple(cls.task_options), **given)
    resolved = {f.name: getattr(options, f.name) for f in dataclasses.fields(EnvOptions) if f.name not in UNRECORDED_OPTIONS}
    resolved.update({**cls.task_options, **task_kwargs})
    return cls.env_id, _jsonable(given, "env options"), _jsonable(resolved, "env options")


def task_description(env_id: str) -> str:
    """The task in words: the first line of the task class's docstring."""
    from equimanip.envs import task_class

    cls = task_class(env_id)
    lines = (cls.__doc__ or "").strip().splitlines()
    return lines[0].strip() if lines else cls.env_id


def features_for_env(env: Any) -> tuple[dict[str, dict], dict[str, Any]]:
    """``(features, observation layout)`` of the frames an env produces (see the module docstring)."""
    u = env.unwrapped
    features: dict[str, dict] = {}
    layout: dict[str, Any] = {}
    spaces = list(env.observation_space.spaces.items())
    images_first = sorted(spaces, key=lambda kv: not OBSERVATION_FEATURES.get(kv[0], "").startswith("observation.images."))
    for key, space in images_first:
        name = OBSERVATION_FEATURES.get(key, f"observation.{key}")
        shape = [int(s) for s in space.shape]
        if name.startswith("observation.images."):
            names: list[str] | None = ["channels", "height", "width"]
        elif key == "holding":
            names = ["holding"]
        elif key == "point_cloud":
            names = ["points", "xyz"]
        else:
            names = None
        features[name] = {"dtype": np.dtype(space.dtype).name, "shape": shape, "names": names}
        layout[key] = {"feature": name, "dtype": np.dtype(space.dtype).name, "shape": shape}
    proprio_names = [str(n) for n in u.PROPRIO_NAMES]
    features[PROPRIO_FEATURE] = {"dtype": "float32", "shape": [len(proprio_names)], "names": proprio_names}
    layout["proprio"] = {"feature": PROPRIO_FEATURE, "dtype": "float32", "shape": [len(proprio_names)],
                         "names": proprio_names}
    features["action"] = {"dtype": "float32", "shape": [int(env.action_space.shape[0])], "names": list(ACTION_NAMES)}
    features["next.reward"] = {"dtype": "float32", "shape": [1], "names": None}
    features["next.done"] = {"dtype": "bool", "shape": [1], "names": None}
    features["next.success"] = {"dtype": "bool", "shape": [1], "names": None}
    features["timestamp"] = {"dtype": "float32", "shape": [1], "names": None}
    for name in ("frame_index", "episode_index", "index", "task_index"):
        features[name] = {"dtype": "int64", "shape": [1], "names": None}
    return features, layout


def _jsonable(value: Any, what: str) -> Any:
    try:
        return json.loads(json.dumps(value, allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{what} must be JSON values (numbers, strings, lists, dicts): {exc}") from None


# ------------------------------------------------------------------------------------------------
# Columns and statistics
def _numel(shape: Iterable[int]) -> int:
    return int(math.prod(shape))


def _is_image(name: str, feature: dict) -> bool:
    return name.startswith("observation.images.") and len(feature["shape"]) == 3


def _encode(values: np.ndarray, feature: dict) -> Any:
    import pyarrow as pa

    shape = [int(s) for s in feature["shape"]]
    flat = np.ascontiguousarray(values, dtype=np.dtype(feature["dtype"])).reshape(-1)
    if shape == [1]:
        return pa.array(flat)
    return pa.FixedSizeListArray.from_arrays(pa.array(flat), _numel(shape))


def _decode(column: Any, name: str, feature: dict, rows: int, where: Path) -> np.ndarray:
    """A column (scalars, or flattened lists of any nesting) as an array ``(rows, *shape)``."""
    import pyarrow as pa

    arr = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    while pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type) or pa.types.is_fixed_size_list(arr.type):
        if arr.null_count:
            break
        arr = arr.flatten()
    shape = [int(s) for s in feature["shape"]]
    if arr.null_count or len(arr) != rows * _numel(shape):
        raise ValueError(f"{where}: column {name!r} does not hold {rows} frames of shape {shape} "
                         f"({len(arr)} values, {arr.null_count} missing)")
    try:
        values = arr.to_numpy(zero_copy_only=False)
    except (pa.ArrowException, TypeError) as exc:
        raise ValueError(f"{where}: column {name!r} cannot be read as {feature['dtype']}: {exc}") from None
    values = values.astype(np.dtype(feature["dtype"]), copy=False).reshape(rows, *shape)
    return np.require(values, requirements=["W", "C"])  # pyarrow's zero-copy views are read-only


def _stats_shape(name: str, feature: dict) -> list[int]:
    return [int(feature["shape"][0]), 1, 1] if _is_image(name, feature) else [int(s) for s in feature["shape"]]


def episode_stats(data: dict[str, np.ndarray], features: dict[str, dict]) -> dict[str, dict[str, np.ndarray]]:
    """min / max / mean / std (population) / count of every feature over one episode's frames;
    images per channel (shape ``(C, 1, 1)``, as LeRobot), everything else per element. Values are in
    the stored units: depth in metres, RGB in 0-255 (LeRobot's image statistics are of [0, 1] images)."""
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, feature in features.items():
        x = np.asarray(data[name], dtype=np.float64)
        axes = (0, 2, 3) if _is_image(name, feature) else (0,)
        shape = _stats_shape(name, feature)
        out[name] = {"min": x.min(axis=axes).reshape(shape), "max": x.max(axis=axes).reshape(shape),
                     "mean": x.mean(axis=axes).reshape(shape), "std": x.std(axis=axes).reshape(shape),
                     "count": np.array([len(x)], dtype=np.int64)}
    return out


def aggregate_stats(per_episode: list[dict[str, dict[str, np.ndarray]]]) -> dict[str, dict[str, Any]]:
    """Dataset statistics from per-episode ones (count-weighted means, pooled variances)."""
    if not per_episode:
        return {}
    out: dict[str, dict[str, Any]] = {}
    for name in per_episode[0]:
        parts = [ep[name] for ep in per_episode]
        counts = np.array([float(p["count"][0]) for p in parts])
        total = counts.sum()
        weights = (counts / total).reshape(-1, *([1] * np.ndim(parts[0]["mean"])))
        means = np.stack([p["mean"] for p in parts])
        mean = (weights * means).sum(axis=0)
        var = (weights * (np.stack([p["std"] for p in parts]) ** 2 + (means - mean) ** 2)).sum(axis=0)
        out[name] = {"min": np.min([p["min"] for p in parts], axis=0).tolist(),
                     "max": np.max([p["max"] for p in parts], axis=0).tolist(),
                     "mean": mean.tolist(), "std": np.sqrt(np.maximum(var, 0.0)).tolist(), "count": [int(total)]}
    return out


# ------------------------------------------------------------------------------------------------
# Files
def _data_file(root: Path, chunk: int, file: int) -> Path:
    return root / DATA_PATH.format(chunk_index=chunk, file_index=file)


def _read_json(path: Path) -> dict:
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read it as JSON ({exc}); the dataset is damaged") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object")
    return data


def _read_parquet(path: Path, columns: list[str] | None = None) -> Any:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not path.is_file():
        raise ValueError(f"{path} is missing; the dataset is incomplete")
    try:
        return pq.read_table(path, columns=columns, page_checksum_verification=True)
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"{path}: cannot read this parquet file (truncated or corrupt?): {exc}") from None


def _parquet_rows(path: Path) -> tuple[int, list[str]]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    if not path.is_file():
        raise ValueError(f"{path} is missing; the dataset is incomplete")
    try:
        meta = pq.read_metadata(path)
        return meta.num_rows, list(meta.schema.to_arrow_schema().names)
    except (pa.ArrowException, OSError) as exc:
        raise ValueError(f"{path}: cannot read this parquet file (truncated or corrupt?): {exc}") from None


def _write_parquet(path: Path, table: Any) -> None:
    import pyarrow.parquet as pq

    with atomic_path(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", write_page_checksum=True)


def _read_info(root: Path) -> dict:
    root = Path(root)
    if not root.is_dir():
        raise ValueError(f"no dataset at {root} (the folder does not exist)")
    path = root / INFO_PATH
    if not path.is_file():
        raise ValueError(f"{root} is not a LeRobot dataset: {INFO_PATH} is missing")
    info = _read_json(path)
    version = info.get("codebase_version")
    if version != CODEBASE_VERSION:
        raise ValueError(f"{path}: codebase_version is {version!r}; equimanip reads LeRobot {CODEBASE_VERSION} datasets")
    missing = [k for k in ("features", "total_episodes", "total_frames", "chunks_size", "data_path", "fps") if k not in info]
    if missing:
        raise ValueError(f"{path}: missing key(s) {missing}")
    if not isinstance(info.get("equimanip"), dict) or "env_id" not in info["equimanip"]:
        raise ValueError(f"{path}: no 'equimanip' section with the env id: the dataset was not written by equimanip")
    for name, feature in info["features"].items():
        if not isinstance(feature, dict) or "dtype" not in feature or "shape" not in feature:
            raise ValueError(f"{path}: feature {name!r} lacks a dtype or shape")
    return info


def _read_episode_rows(root: Path, info: dict) -> tuple[list[dict], list[dict[str, dict[str, np.ndarray]]]]:
    """The committed episodes (the first ``total_episodes`` rows) and their statistics, validated."""
    n = int(info["total_episodes"])
    if n < 0:
        raise ValueError(f"{root / INFO_PATH}: total_episodes is negative")
    path = root / EPISODES_PATH
    if n == 0 and not path.exists():
        return [], []
    table = _read_parquet(path)
    missing = [c for c in _EPISODE_COLUMNS if c not in table.column_names]
    if missing:
        raise ValueError(f"{path}: missing column(s) {missing}")
    if table.num_rows < n:
        raise ValueError(f"{path} lists {table.num_rows} episodes but {INFO_PATH} says {n}; the dataset is damaged")
    table = table.slice(0, n)
    columns = {name: table.column(name).to_pylist() for name in table.column_names}
    rows = [{name: columns[name][i] for name in _EPISODE_COLUMNS} for i in range(n)]
    stats: list[dict[str, dict[str, np.ndarray]]] = []
    features = info["features"]
    for i in range(n):
        ep: dict[str, dict[str, np.ndarray]] = {}
        for name, feature in features.items():
            keys = [f"stats/{name}/{s}" for s in STATS]
            if not all(k in columns for k in keys):
                break
            shape = _stats_shape(name, feature)
            ep[name] = {s: np.asarray(columns[f"stats/{name}/{s}"][i], dtype=np.int64 if s == "count" else np.float64)
                        .reshape([1] if s == "count" else shape) for s in STATS}
        else:
            stats.append(ep)
    if len(stats) != n:
        stats = []  # written without per-episode statistics: meta/stats.json stays as it is
    # the frame ranges must tile [0, total_frames) in episode order
    start = 0
    for i, row in enumerate(rows):
        if row["episode_index"] != i:
            raise ValueError(f"{path}: row {i} has episode_index {row['episode_index']}; expected {i}")
        length, lo, hi = row["length"], row["dataset_from_index"], row["dataset_to_index"]
        if not (isinstance(length, int) and length >= 1 and lo == start and hi == lo + length):
            raise ValueError(f"{path}: episode {i} has length {length} and frames [{lo}, {hi}); expected frames from {start} "
                             "and to = from + length")
        start = hi
    if start != int(info["total_frames"]):
        raise ValueError(f"{root / INFO_PATH}: total_frames is {info['total_frames']} but the episodes hold {start} frames")
    return rows, stats


def _file_groups(rows: list[dict], chunks_size: int) -> dict[tuple[int, int], tuple[int, int]]:
    """``(chunk, file) -> (first frame index, frame count)``; episodes fill files in order."""
    groups: dict[tuple[int, int], tuple[int, int]] = {}
    last = -1
    for row in rows:
        key = (int(row["data/chunk_index"]), int(row["data/file_index"]))
        number = key[0] * chunks_size + key[1]
        if not 0 <= key[1] < chunks_size or number < last:
            raise ValueError(f"episode {row['episode_index']} points to data file {key}, out of order or out of range")
        last = number
        first, count = groups.get(key, (int(row["dataset_from_index"]), 0))
        groups[key] = (first, count + int(row["length"]))
    return groups


# ------------------------------------------------------------------------------------------------
# Reading
class Dataset:
    """A LeRobot v3.0 dataset written by :func:`equimanip.collect.collect` (read with pyarrow).

    Arrays come back as ``(T, *shape)`` of each feature's dtype and shape
    (``observation.images.depth``: ``(T, 1, S, S)`` float32, ``observation.holding``: ``(T, 1)``,
    ``next.done``: ``(T, 1)`` bool, …), writable and bit-for-bit what was recorded. Damaged
    datasets raise ``ValueError`` naming the file.
    """

    def __init__(self, root: Path, info: dict, rows: list[dict], tasks: list[str]):
        self.root = Path(root)
        self.info = info
        self._rows = rows
        self.tasks = tasks
        self._groups = _file_groups(rows, int(info["chunks_size"]))
        self._cache: tuple[tuple[int, int], Any] | None = None

    @classmethod
    def open(cls, path: str | Path) -> Dataset:
        """Open and validate a dataset (meta files, frame ranges, data files' row counts)."""
        root = Path(path)
        info = _read_info(root)
        rows, _ = _read_episode_rows(root, info)
        if not rows:
            raise ValueError(f"dataset {root} is empty: it holds 0 episodes")
        tasks_table = _read_parquet(root / TASKS_PATH)
        if "task" not in tasks_table.column_names:
            raise ValueError(f"{root / TASKS_PATH}: no 'task' column")
        tasks = [str(t) for t in tasks_table.column("task").to_pylist()]
        dataset = cls(root, info, rows, tasks)
        for (chunk, file), (_, count) in dataset._groups.items():
            path = _data_file(root, chunk, file)
            num_rows, names = _parquet_rows(path)
            if num_rows != count:
                raise ValueError(f"{path} holds {num_rows} frames; meta/episodes says {count}")
            missing = [name for name in dataset.features if name not in names]
            if missing:
                raise ValueError(f"{path}: missing column(s) {missing}")
        return dataset

    # -- description ------------------------------------------------------------------------------
    @property
    def features(self) -> dict[str, dict]:
        return self.info["features"]

    @property
    def env_id(self) -> str:
        return self.info["equimanip"]["env_id"]

    @property
    def env_options(self) -> dict[str, Any]:
        """The options the env was made with: ``gym.make(ds.env_id, **ds.env_options)`` recreates it."""
        return dict(self.info["equimanip"].get("env_options") or {})

    @property
    def seed(self) -> int:
        return int(self.info["equimanip"]["seed"])

    @property
    def fps(self) -> int:
        return int(self.info["fps"])

    @property
    def num_episodes(self) -> int:
        return len(self._rows)

    @property
    def num_frames(self) -> int:
        return int(self.info["total_frames"])

    @property
    def stats(self) -> dict[str, dict[str, Any]]:
        return _read_json(self.root / STATS_PATH)

    def __len__(self) -> int:
        return self.num_episodes

    def __repr__(self) -> str:
        return f"Dataset({str(self.root)!r}: {self.env_id}, {self.num_episodes} episodes, {self.num_frames} frames)"

    def episodes_meta(self) -> list[dict[str, Any]]:
        """One dict per episode: episode_index, tasks, length, seed, success, data/chunk_index,
        data/file_index, dataset_from_index, dataset_to_index."""
        return [dict(row) for row in self._rows]

    def check_compatible(self, env_id: str, env_options: dict[str, Any] | None = None) -> None:
        """Raise ``ValueError`` unless an env made as ``gym.make(env_id, **env_options)`` is the
        dataset's task with the same observation layout and action scale (:data:`LAYOUT_OPTIONS`
        and the task's options); corruptions, shadows and substeps may differ."""
        from equimanip.envs.tabletop import EnvOptions

        canonical, _, resolved = resolve_env(env_id, env_options)
        if canonical != self.env_id:
            raise ValueError(f"dataset {self.root} was recorded on {self.env_id}, not {canonical}")
        recorded = self.info["equimanip"].get("resolved_env_options") or resolve_env(self.env_id, self.env_options)[2]
        common = {f.name for f in dataclasses.fields(EnvOptions)}
        keys = list(LAYOUT_OPTIONS) + sorted((set(recorded) | set(resolved)) - common)
        diffs = [f"{k}: dataset {recorded.get(k)!r}, env {resolved.get(k)!r}" for k in keys if recorded.get(k) != resolved.get(k)]
        if diffs:
            raise ValueError(f"dataset {self.root} does not fit this env (observation layout or action scale differs): "
                             + "; ".join(diffs))

    # -- data -------------------------------------------------------------------------------------
    def _table(self, chunk: int, file: int) -> Any:
        key = (chunk, file)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, _read_parquet(_data_file(self.root, chunk, file), columns=list(self.features)))
        return self._cache[1]

    def _decode_table(self, table: Any, where: Path) -> dict[str, np.ndarray]:
        return {name: _decode(table.column(name), name, feature, table.num_rows, where)
                for name, feature in self.features.items()}

    def episode(self, i: int) -> dict[str, Any]:
        """Episode ``i``: every feature as ``(T, *shape)`` plus ``seed``, ``success``, ``length`` and
        ``episode_index`` (a scalar here: the per-frame column is that constant)."""
        if not -self.num_episodes <= i < self.num_episodes:
            raise IndexError(f"episode {i} out of range: the dataset has {self.num_episodes} episodes")
        row = self._rows[i % self.num_episodes]
        chunk, file = int(row["data/chunk_index"]), int(row["data/file_index"])
        first, _ = self._groups[(chunk, file)]
        length, start = int(row["length"]), int(row["dataset_from_index"])
        where = _data_file(self.root, chunk, file)
        data: dict[str, Any] = self._decode_table(self._table(chunk, file).slice(start - first, length), where)
        index = int(row["episode_index"])
        if (not np.all(data["episode_index"] == index) or not np.array_equal(data["frame_index"][:, 0], np.arange(length))
                or not np.array_equal(data["index"][:, 0], np.arange(start, start + length))):
            raise ValueError(f"{where}: the frames of episode {index} are not where meta/episodes puts them "
                             f"(frames [{start}, {start + length}))")
        data.update(episode_index=index, seed=int(row["seed"]), success=bool(row["success"]), length=length)
        return data

    def frames(self) -> dict[str, np.ndarray]:
        """All frames, in order: every feature as ``(num_frames, *shape)``."""
        parts = []
        for (chunk, file) in self._groups:
            where = _data_file(self.root, chunk, file)
            parts.append(self._decode_table(_read_parquet(where, columns=list(self.features)), where))
        data = {name: np.concatenate([p[name] for p in parts]) for name in self.features}
        if not np.array_equal(data["index"][:, 0], np.arange(self.num_frames)):
            raise ValueError(f"{self.root}: the frames' index column is not 0..{self.num_frames - 1} in order")
        return data

    def observations(self, data: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """The env-style observation dict (``depth``, ``holding``, …) of :meth:`episode` or :meth:`frames` data."""
        layout = self.info["equimanip"].get("observation_layout", {})
        return {key: data[spec["feature"]] for key, spec in layout.items() if key != "proprio" and spec["feature"] in data}


# ------------------------------------------------------------------------------------------------
# Writing
class DatasetWriter:
    """Appends episodes to a dataset folder, creating it or resuming it (see :meth:`open`).

    :meth:`add` buffers an episode; :meth:`flush` writes the buffered episodes as one new data file
    and then rewrites meta/episodes, meta/stats.json and meta/info.json (the commit), each atomically.
    """

    def __init__(self, root: Path, info: dict, rows: list[dict], stats: list[dict[str, dict[str, np.ndarray]]]):
        self.root = root
        self.info = info
        self.rows = rows
        self.stats = stats
        self.buffer: list[dict[str, Any]] = []
        self.next_file = 0
        if rows:
            last = rows[-1]
            self.next_file = int(last["data/chunk_index"]) * self.chunks_size + int(last["data/file_index"]) + 1

    @property
    def chunks_size(self) -> int:
        return int(self.info["chunks_size"])

    @property
    def features(self) -> dict[str, dict]:
        return self.info["features"]

    @property
    def num_episodes(self) -> int:
        """Committed plus buffered episodes."""
        return len(self.rows) + len(self.buffer)

    @property
    def num_frames(self) -> int:
        return sum(int(r["length"]) for r in self.rows) + sum(int(ep["length"]) for ep in self.buffer)

    @property
    def num_successes(self) -> int:
        return sum(bool(r["success"]) for r in self.rows) + sum(bool(ep["success"]) for ep in self.buffer)

    @property
    def buffered_bytes(self) -> int:
        return sum(int(np.asarray(v).nbytes) for ep in self.buffer for v in ep.values() if isinstance(v, np.ndarray))

    @classmethod
    def open(cls, root: str | Path, env_id: str, env_options: dict[str, Any], resolved_env_options: dict[str, Any],
             seed: int, features: dict[str, dict], observation_layout: dict[str, Any], task: str) -> DatasetWriter:
        """Create a dataset in a new or empty folder, or resume one recorded with the same env,
        options, seed and features (else ``ValueError``, nothing touched). Resuming deletes
        leftover temporary files and data files that no committed episode references."""
        from equimanip import __version__

        root = Path(root)
        if (root / INFO_PATH).exists():
            info = _read_info(root)
            theirs = info["equimanip"]
            wanted = {"env": env_id, "env options": resolved_env_options, "seed": int(seed)}
            found = {"env": theirs.get("env_id"), "env options": theirs.get("resolved_env_options"), "seed": theirs.get("seed")}
            diffs = []
            if wanted == found and features != info.get("features"):  # same settings, another version of the env
                keys = sorted(k for k in set(features) | set(info["features"]) if features.get(k) != info["features"].get(k))
                diffs.append(f"features differ ({', '.join(keys)}): recorded by another version of equimanip?")
            for what in wanted:
                if wanted[what] != found[what]:
                    if isinstance(wanted[what], dict) and isinstance(found[what], dict):
                        keys = sorted(k for k in set(wanted[what]) | set(found[what])
                                      if wanted[what].get(k) != found[what].get(k))
                        detail = ", ".join(f"{k}: {found[what].get(k)!r} there, {wanted[what].get(k)!r} here" for k in keys)
                        diffs.append(f"{what} differ ({detail})")
                    else:
                        diffs.append(f"{what}: {found[what]!r} there, {wanted[what]!r} here")
            if diffs:
                raise ValueError(f"{root} holds a dataset recorded with other settings ({'; '.join(diffs)}); "
                                 "use a new --out folder, or the same settings to add episodes to it")
            rows, stats = _read_episode_rows(root, info)
            groups = _file_groups(rows, int(info["chunks_size"]))
            for (chunk, file), (_, count) in groups.items():
                path = _data_file(root, chunk, file)
                if _parquet_rows(path)[0] != count:
                    raise ValueError(f"{path} does not hold the {count} frames meta/episodes lists; the dataset is damaged")
            if rows and not stats:
                raise ValueError(f"{root / EPISODES_PATH} has no per-episode statistics; cannot add episodes to this dataset")
            writer = cls(root, info, rows, stats)
            writer._clean(set(groups))
            return writer
        if root.exists() and (not root.is_dir() or any(root.iterdir())):
            raise ValueError(f"{root} exists and is not a dataset (no {INFO_PATH}); choose a new or empty folder")
        info = {
            "codebase_version": CODEBASE_VERSION,
            "robot_type": ROBOT_TYPE,
            "total_episodes": 0,
            "total_frames": 0,
            "total_tasks": 1,
            "chunks_size": CHUNKS_SIZE,
            "data_files_size_in_mb": DATA_FILES_SIZE_IN_MB,
            "video_files_size_in_mb": VIDEO_FILES_SIZE_IN_MB,
            "fps": FPS,
            "splits": {},
            "data_path": DATA_PATH,
            "video_path": None,
            "features": features,
            "equimanip": {
                "env_id": env_id,
                "env_options": env_options,
                "resolved_env_options": resolved_env_options,
                "seed": int(seed),
                "observation_layout": observation_layout,
                "expert": EXPERT,
                "task": task,
                "version": __version__,
            },
        }
        import pyarrow as pa

        writer = cls(root, info, [], [])
        _write_parquet(root / TASKS_PATH, pa.table({"task_index": pa.array([0], pa.int64()), "task": pa.array([task])}))
        writer._write_meta()
        return writer

    def _clean(self, keep: set[tuple[int, int]]) -> None:
        for folder in (self.root / "data", self.root / "meta"):
            if not folder.is_dir():
                continue
            for path in folder.rglob("*"):
                if path.is_file() and _TEMP_FILE.match(path.name):
                    path.unlink()
        data = self.root / "data"
        if data.is_dir():
            for chunk_dir in data.iterdir():
                chunk = _CHUNK_DIR.match(chunk_dir.name)
                if not chunk or not chunk_dir.is_dir():
                    continue
                for path in chunk_dir.iterdir():
                    m = _DATA_FILE.match(path.name)
                    if m and (int(chunk.group(1)), int(m.group(1))) not in keep:
                        path.unlink()  # written by a run that died before committing it

    def add(self, episode: dict[str, Any]) -> None:
        """Buffer one episode: every non-bookkeeping feature ``(T, *shape)`` plus ``seed``, ``success``."""
        length = int(len(episode["action"]))
        if length < 1:
            raise ValueError("an episode needs at least one frame")
        for name, feature in self.features.items():
            if name in ("timestamp", "frame_index", "episode_index", "index", "task_index"):
                continue
            arr = np.asarray(episode[name])
            if arr.shape != (length, *feature["shape"]):
                raise ValueError(f"episode feature {name!r} has shape {arr.shape}; expected {(length, *feature['shape'])}")
        self.buffer.append({**episode, "length": length})

    def flush(self) -> None:
        """Write the buffered episodes (one data file) and commit them in the meta files."""
        if not self.buffer:
            return
        import pyarrow as pa

        chunk, file = divmod(self.next_file, self.chunks_size)
        start = self.info["total_frames"]
        columns: dict[str, list[np.ndarray]] = {name: [] for name in self.features}
        new_rows, new_stats = [], []
        index = start
        for k, ep in enumerate(self.buffer):
            episode_index = len(self.rows) + k
            length = ep["length"]
            data = {name: ep[name] for name in self.features if name in ep}
            frame_index = np.arange(length, dtype=np.int64)
            data.update(timestamp=(frame_index / self.info["fps"]).astype(np.float32)[:, None],
                        frame_index=frame_index[:, None], episode_index=np.full((length, 1), episode_index, np.int64),
                        index=np.arange(index, index + length, dtype=np.int64)[:, None],
                        task_index=np.zeros((length, 1), np.int64))
            for name in self.features:
                columns[name].append(np.asarray(data[name]))
            new_stats.append(episode_stats(data, self.features))
            new_rows.append({"episode_index": episode_index, "tasks": [self.info["equimanip"]["task"]], "length": length,
                             "seed": int(ep["seed"]), "success": bool(ep["success"]), "data/chunk_index": chunk,
                             "data/file_index": file, "dataset_from_index": index, "dataset_to_index": index + length})
            index += length
        table = pa.table({name: _encode(np.concatenate(parts), self.features[name]) for name, parts in columns.items()})
        _write_parquet(_data_file(self.root, chunk, file), table)
        self.rows.extend(new_rows)
        self.stats.extend(new_stats)
        self.buffer.clear()
        self.next_file += 1
        self._write_meta()

    def _write_meta(self) -> None:
        import pyarrow as pa

        n = len(self.rows)
        columns: dict[str, Any] = {
            "episode_index": pa.array([r["episode_index"] for r in self.rows], pa.int64()),
            "tasks": pa.array([r["tasks"] for r in self.rows], pa.list_(pa.string())),
            "length": pa.array([r["length"] for r in self.rows], pa.int64()),
            "seed": pa.array([r["seed"] for r in self.rows], pa.int64()),
            "success": pa.array([r["success"] for r in self.rows], pa.bool_()),
        }
        for name in ("data/chunk_index", "data/file_index", "dataset_from_index", "dataset_to_index"):
            columns[name] = pa.array([r[name] for r in self.rows], pa.int64())
        columns["meta/episodes/chunk_index"] = pa.array([0] * n, pa.int64())
        columns["meta/episodes/file_index"] = pa.array([0] * n, pa.int64())
        for name in self.features:
            for s in STATS:
                kind = pa.int64() if s == "count" else pa.float64()
                columns[f"stats/{name}/{s}"] = pa.array([np.asarray(ep[name][s]).reshape(-1).tolist() for ep in self.stats],
                                                        pa.list_(kind))
        # order matters: data file (flush), episodes, stats, then info.json, which commits them
        _write_parquet(self.root / EPISODES_PATH, pa.table(columns))
        write_json(self.root / STATS_PATH, aggregate_stats(self.stats))
        self.info.update(total_episodes=n, total_frames=sum(int(r["length"]) for r in self.rows),
                         splits={"train": f"0:{n}"} if n else {})
        write_json(self.root / INFO_PATH, self.info)
