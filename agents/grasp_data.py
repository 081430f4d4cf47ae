"""Labelled grasp data by simulated attempts (Edge Grasp Network's data generation, after VGN).

Each scene: a pile or packed scene, one noisy depth view, the preprocessed cloud, candidate edge
grasps sampled on it, and a label for ``grasps_per_scene`` of them from a real attempt in pybullet
(the scene is restored from a snapshot before each attempt). Scenes are written in shards of
``shard_size`` scenes, atomically; a shard on disk is never recomputed, so an interrupted run
resumes where it stopped. Shard ``i`` depends only on the config and ``i``: the data is the same
with one process, K processes, or a Ray cluster.
"""

from __future__ import annotations

import json
import multiprocessing
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from equimanip.atomic import write_json

FORMAT_VERSION = 1
# what data written before a config field was made with
PREDATING_CONFIG = {"flat_grasps": False, "allow_contact": False, "fill_columns": False, "deepen": 0.0}


@dataclass(frozen=True)
class GenerateConfig:
    """What to generate; written to ``DATA/meta.json`` and checked on resume."""

    objects: str = "random-urdfs-train"
    scene: str = "pile"
    scenes: int = 100
    num_objects: int = 5
    grasps_per_scene: int = 128  # labelled by simulation; the rest of the candidates are dropped
    num_approach: int = 64  # more approach points than at detection: more candidates to label
    noise: str = "dex"
    seed: int = 0
    shard_size: int = 8
    flat_grasps: bool = True  # sample_edges' levelled and rim candidates for flat objects
    # what a contact on the approach means for a label: the hand closes there (True: the evaluation's rule,
    # VGN's clutter removal) or the attempt fails (False: VGN's data generation, and data made before)
    allow_contact: bool = True
    fill_columns: bool = False  # prune candidates as the detector's filled columns do (sample_edges)
    # label hands pushed up to this much deeper too (m, 4 mm steps, every depth that fits is a candidate;
    # sample_edges(all_depths=True)), for a net that scores the depth; 0: Edge Grasp's depth only
    deepen: float = 0.0

    def __post_init__(self) -> None:
        from equimanip.envs.grasping.world import SCENES

        if self.scene not in SCENES:
            raise ValueError(f"unknown scene {self.scene!r}; accepted: {', '.join(SCENES)}")
        for key in ("scenes", "num_objects", "grasps_per_scene", "num_approach", "shard_size"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be ≥ 1, got {getattr(self, key)}")
        from equimanip.policies.grasp.edges import check_deepen

        check_deepen(self.deepen)

    @property
    def num_shards(self) -> int:
        return -(-self.scenes // self.shard_size)


def shard_path(out: Path, index: int) -> Path:
    return out / f"shard-{index:05d}.npz"


def _world(config: GenerateConfig):
    """A fresh simulation world: Bullet's results depend on the history of a world (body ids, contact
    caches), so each scene gets its own and a shard is the same whichever process makes it."""
    from equimanip.envs.grasping.camera import DepthCamera
    from equimanip.envs.grasping.objects import load_object_set
    from equimanip.envs.grasping.world import GraspWorld

    return GraspWorld(load_object_set(config.objects), camera=DepthCamera(noise=config.noise))


def label_scene(config: GenerateConfig, scene_index: int) -> dict[str, Any]:
    """Build, observe and label scene ``scene_index`` of ``config``."""
    world = _world(config)
    try:
        return _label(world, config, scene_index)
    finally:
        world.close()


def _label(world: Any, config: GenerateConfig, scene_index: int) -> dict[str, Any]:
    import torch

    from equimanip.policies.grasp.edges import preprocess_cloud, sample_edges

    rng = np.random.default_rng([config.seed, scene_index])
    world.generate(config.scene, config.num_objects, rng)
    obs = world.observe(rng)
    points, normals = preprocess_cloud(obs.points, viewpoint=obs.viewpoint, table_height=obs.table_height)
    empty = {"points": points.astype(np.float32), "normals": normals.astype(np.float32),
             "edges": np.zeros((0, 2), np.int32), "labels": np.zeros(0, np.uint8), "scene_seed": scene_index,
             "viewpoint": np.asarray(obs.viewpoint, dtype=np.float64)}
    if len(points) < 20:
        return empty
    generator = torch.Generator().manual_seed(int(rng.integers(2**31)))
    candidates = sample_edges(points, normals, num_approach=config.num_approach, table_height=obs.table_height,
                              generator=generator, flat_grasps=config.flat_grasps,
                              fill_columns=config.fill_columns, deepen=config.deepen,
                              all_depths=config.deepen > 0)
    if len(candidates) == 0:
        return empty
    chosen = np.sort(rng.choice(len(candidates), size=min(config.grasps_per_scene, len(candidates)), replace=False))
    snapshot = world.sim.save_state()
    labels = np.zeros(len(chosen), np.uint8)
    poses = candidates.poses.detach().cpu().numpy().astype(np.float64)
    try:
        for k, i in enumerate(chosen):
            world.sim.restore_state(snapshot)
            labels[k] = world.execute(poses[i], allow_contact=config.allow_contact).success
    finally:
        world.sim.restore_state(snapshot)
        world.sim.remove_state(snapshot)
    empty["edges"] = candidates.edges.detach().cpu().numpy()[chosen].astype(np.int32)
    empty["labels"] = labels
    empty["extra"] = candidates.extra.detach().cpu().numpy()[chosen].astype(np.float32)
    return empty


def make_shard(config: GenerateConfig, out: str, index: int) -> dict[str, Any]:
    """Label the scenes of shard ``index`` and write it atomically (skipped when it exists)."""
    from equimanip.agents.grasp_dataset import write_shard

    path = shard_path(Path(out), index)
    if path.exists():
        return {"index": index, "skipped": True}
    start = time.perf_counter()
    scenes = [label_scene(config, s) for s in range(index * config.shard_size,
                                                     min((index + 1) * config.shard_size, config.scenes))]
    write_shard(path, scenes)
    labels = np.concatenate([s["labels"] for s in scenes]) if scenes else np.zeros(0)
    return {"index": index, "skipped": False, "scenes": len(scenes), "grasps": int(len(labels)),
            "positives": int(labels.sum()), "seconds": time.perf_counter() - start}


def _check_meta(out: Path, config: GenerateConfig) -> None:
    meta = out / "meta.json"
    wanted = {"format_version": FORMAT_VERSION, "config": asdict(config)}
    if meta.exists():
        have = json.loads(meta.read_text())
        have["config"] = {**PREDATING_CONFIG, **have.get("config", {})}
        if have.get("config") != wanted["config"] or have.get("format_version") != FORMAT_VERSION:
            raise ValueError(f"{out} holds data generated with other settings ({have.get('config')}); "
                             f"use a new --out folder or the same settings to resume")
    elif out.exists() and any(out.iterdir()):
        raise ValueError(f"{out} is not empty and has no meta.json: not a grasp data folder")
    else:
        out.mkdir(parents=True, exist_ok=True)
        write_json(meta, wanted)


def generate(config: GenerateConfig, out: str | Path, *, workers: int = 1, ray_address: str | None = None,
             progress: bool = True) -> dict[str, Any]:
    """Generate (or resume) the shards of ``config`` in ``out``: in this process (``workers=1``),
    in ``workers`` local processes, or as Ray tasks on the cluster at ``ray_address`` (``"local"``
    starts a private one). Returns throughput figures."""
    from tqdm import tqdm

    if workers < 1:
        raise ValueError(f"workers must be ≥ 1, got {workers}")
    from equimanip.envs.grasping.objects import load_object_set

    load_object_set(config.objects)  # a bad object set fails before any work starts
    out = Path(out)
    _check_meta(out, config)
    todo = [i for i in range(config.num_shards) if not shard_path(out, i).exists()]
    bar = tqdm(total=config.num_shards, initial=config.num_shards - len(todo), desc="grasp data", unit="shard",
               disable=not progress)
    start = time.perf_counter()
    results = []
    if ray_address is not None:
        results = _run_ray(config, out, todo, ray_address, bar)
    elif workers == 1:
        for i in todo:
            results.append(make_shard(config, str(out), i))
            bar.update(1)
    else:
        ctx = multiprocessing.get_context("spawn")
        with ctx.Pool(workers) as pool:
            for r in pool.imap_unordered(_make_shard_star, [(config, str(out), i) for i in todo]):
                results.append(r)
                bar.update(1)
    bar.close()
    wall = time.perf_counter() - start
    made = [r for r in results if not r.get("skipped")]
    grasps = sum(r["grasps"] for r in made)
    summary = {"out": str(out), "shards": config.num_shards, "new_shards": len(made), "new_grasps": grasps,
               "new_positives": sum(r["positives"] for r in made), "wall_s": round(wall, 2),
               "workers": workers if ray_address is None else f"ray:{ray_address}",
               "grasps_per_second": grasps / wall if made else 0.0,
               "grasps_per_second_per_process": grasps / max(sum(r["seconds"] for r in made), 1e-9) if made else 0.0}
    write_json(out / "generate_summary.json", summary)
    return summary


def _make_shard_star(args: tuple) -> dict[str, Any]:
    return _in_worker(*args)


def _in_worker(config: GenerateConfig, out: str, index: int) -> dict[str, Any]:
    """``make_shard`` in a worker process: one torch thread, since the workers already fill the cores
    (two threads per worker made small torch ops up to 10× slower on a busy machine)."""
    import torch

    torch.set_num_threads(1)
    return make_shard(config, out, index)


def _run_ray(config: GenerateConfig, out: Path, todo: list[int], address: str, bar: Any) -> list[dict[str, Any]]:
    try:
        import ray
    except ImportError as exc:
        raise ValueError("--ray needs Ray: pip install 'ray==2.60.0' (or equimanip[ray])") from exc
    started = not ray.is_initialized()
    if started:
        if address == "local":
            ray.init(include_dashboard=False, log_to_driver=False, _node_ip_address="127.0.0.1")
        else:
            ray.init(address=address, log_to_driver=False)
    try:
        task = ray.remote(_in_worker)
        pending = [task.remote(config, str(out.resolve()), i) for i in todo]
        results = []
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            results.extend(ray.get(done))
            bar.update(len(done))
        return results
    finally:
        if started:
            ray.shutdown()
