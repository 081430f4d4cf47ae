"""Clutter-removal rounds and their statistics: the simulated grasping benchmark of VGN, reused by
GIGA and Edge Grasp Network (Breyer et al. 2020; Huang et al. 2023).

A round drops ``num_objects`` objects (pile or packed), then repeats: one noisy depth view, the
detector's best grasp, its execution. A round ends when the table is clear, the detector finds no
grasp, or after two failures in a row. With ``min_score`` (Edge Grasp Network's evaluation uses 0.85)
a best grasp scored below it is not executed: the camera takes a new view instead, and three such
skips in a round end it. GSR = successful attempts / attempts; DR = objects removed /
objects present; both reported as mean ± std over seeds.
"""

from __future__ import annotations

import multiprocessing
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from equimanip.envs.grasping.camera import DepthCamera
from equimanip.envs.grasping.objects import load_object_set
from equimanip.envs.grasping.world import WORKSPACE_HALF, GraspWorld, Observation

MAX_CONSECUTIVE_FAILURES = 2
MAX_SKIPS = 3  # Edge Grasp Network: low-score views before a round ends


class Planner(Protocol):
    """What a round needs of a detector: the best grasp pose for an observation, or None."""

    def __call__(self, observation: Observation, rng: np.random.Generator) -> tuple[np.ndarray, float] | None: ...


@dataclass
class RoundLog:
    """One round: what was in the scene, every attempt, and why it ended."""

    seed: int
    round: int
    objects: int
    removed: int = 0
    attempts: list[dict[str, Any]] = field(default_factory=list)
    end: str = ""  # "clear", "no_grasp", "failures", "max_attempts", "low_score"
    skips: int = 0  # views whose best grasp scored below min_score (not executed)

    @property
    def successes(self) -> int:
        return sum(a["success"] for a in self.attempts)


def run_round(world: GraspWorld, planner: Planner, *, scene: str, num_objects: int, seed: int, round_index: int,
              max_attempts: int = 20, on_frame: Callable[[], None] | None = None,
              allow_contact: bool = True, min_score: float | None = None) -> RoundLog:
    """Play one clutter-removal round; randomness from ``(seed, round_index)`` only. ``allow_contact``:
    a contact on the approach stops the hand and it closes there (VGN's evaluation; False fails the attempt).
    ``min_score``: skip (do not execute) a best grasp scored below it and take a new view; the
    ``MAX_SKIPS``-th skip ends the round (None: execute every best grasp)."""
    rng = np.random.default_rng([seed, round_index])
    present = world.generate(scene, num_objects, rng)
    log = RoundLog(seed=seed, round=round_index, objects=present)
    failures = 0
    world.hand.on_step = on_frame
    try:
        while True:
            if not world.object_names:
                log.end = "clear"
                break
            if len(log.attempts) >= max_attempts:
                log.end = "max_attempts"
                break
            observation = world.observe(rng)
            t0 = time.perf_counter()
            best = planner(observation, rng)
            detect_s = time.perf_counter() - t0
            if best is None:
                log.end = "no_grasp"
                break
            pose, score = best
            if min_score is not None and score < min_score:
                log.skips += 1
                if log.skips >= MAX_SKIPS:
                    log.end = "low_score"
                    break
                continue
            result = world.execute(pose, allow_contact=allow_contact)
            for name in result.held:  # lifted out of the scene
                world.remove_object(name)
            world.hand.park()
            world.wait_for_rest(timeout=1.0)
            fell = world.remove_outside_workspace()
            log.removed = present - len(world.object_names)
            log.attempts.append({"success": result.success, "reason": result.reason, "width": round(result.width, 5),
                                 "approach_contact": result.approach_contact,
                                 "score": float(score), "points": int(len(observation.points)),
                                 "detect_s": round(detect_s, 4), "removed": len(result.held), "fell": len(fell)})
            failures = 0 if result.success else failures + 1
            if failures >= MAX_CONSECUTIVE_FAILURES:
                log.end = "failures"
                break
    finally:
        world.hand.on_step = None
    return log


def summarize(logs: Iterable[RoundLog]) -> dict[str, Any]:
    """GSR and DR per seed, and their mean and standard deviation over seeds."""
    logs = list(logs)
    per_seed: dict[int, dict[str, float]] = {}
    for seed in sorted({log.seed for log in logs}):
        mine = [log for log in logs if log.seed == seed]
        attempts = sum(len(log.attempts) for log in mine)
        successes = sum(log.successes for log in mine)
        objects = sum(log.objects for log in mine)
        removed = sum(log.removed for log in mine)
        per_seed[seed] = {"gsr": successes / attempts if attempts else 0.0, "dr": removed / objects if objects else 0.0,
                          "attempts": attempts, "successes": successes, "objects": objects, "removed": removed,
                          "rounds": len(mine)}
    gsr = np.array([v["gsr"] for v in per_seed.values()])
    dr = np.array([v["dr"] for v in per_seed.values()])
    return {
        "gsr": {"mean": float(gsr.mean()) if len(gsr) else 0.0, "std": float(gsr.std()) if len(gsr) else 0.0},
        "dr": {"mean": float(dr.mean()) if len(dr) else 0.0, "std": float(dr.std()) if len(dr) else 0.0},
        "attempts": int(sum(v["attempts"] for v in per_seed.values())),
        "rounds": len(logs),
        "per_seed": {str(k): v for k, v in per_seed.items()},
        "end_reasons": {r: sum(log.end == r for log in logs)
                        for r in ("clear", "no_grasp", "failures", "max_attempts", "low_score")},
        "skips": int(sum(log.skips for log in logs)),
        "failures": _failure_kinds([a for log in logs for a in log.attempts if not a["success"]]),
    }


def _failure_kinds(failed: list[dict[str, Any]]) -> dict[str, int]:
    """Why attempts failed: a collision before the approach, or the hand closed and held nothing, after its
    approach stopped on a contact ("closed_after_contact") or at the grasp pose ("closed_at_pose")."""
    kinds = {"pregrasp_collision": 0, "approach_collision": 0, "closed_after_contact": 0, "closed_at_pose": 0}
    for a in failed:
        if a.get("reason") in kinds:
            kinds[a["reason"]] += 1
        else:
            kinds["closed_after_contact" if a.get("approach_contact") else "closed_at_pose"] += 1
    return kinds


# -- detectors as planners ------------------------------------------------------------------------
def detector_planner(detector: Any, num_approach: int = 64, **candidates: bool | float | None) -> Planner:
    """Wrap a :class:`~equimanip.policies.grasp.detector.GraspDetector`: its top-scoring grasp, from
    ``num_approach`` approach points (the paper samples 32–64). ``candidates``: the candidate options of
    ``detect`` (``flat_grasps``, ``fill_columns``, ``clear_approach``, ``deepen``, ``fill_shadows``) and
    ``fill_crop`` (pass the workspace square the observation was cropped to as ``detect``'s ``crop_box``)."""
    options = dict(candidates)
    if options.pop("fill_crop", False):
        options["crop_box"] = (-WORKSPACE_HALF, -WORKSPACE_HALF, WORKSPACE_HALF, WORKSPACE_HALF)

    def plan(observation: Observation, rng: np.random.Generator) -> tuple[np.ndarray, float] | None:
        grasps = detector.detect(observation.points, viewpoint=observation.viewpoint,
                                 table_height=observation.table_height, top_k=1, num_approach=num_approach,
                                 seed=int(rng.integers(2**31)), **options)
        if not grasps:
            return None
        return np.asarray(grasps[0].pose, dtype=float), float(grasps[0].score)

    return plan


@dataclass(frozen=True)
class EvalSpec:
    """Everything a worker process needs to play rounds (picklable)."""

    detector: str
    scene: str
    objects: str
    num_objects: int = 5
    noise: str = "dex"
    device: str = "cpu"
    num_approach: int = 64
    allow_contact: bool = True  # VGN's evaluation convention (see GraspWorld.execute)
    min_score: float | None = None  # skip best grasps scored below it (Edge Grasp: 0.85); None: never skip
    flat_grasps: bool = True  # levelled and rim candidates for flat objects (sample_edges); False: Edge Grasp's only
    fill_columns: bool = True  # prune hands reaching under a seen upward-facing surface (sample_edges)
    clear_approach: bool = False  # prune hands whose way in from the pre-grasp pose meets the cloud (sample_edges)
    deepen: float | None = None  # push hands up to this much deeper where they fit (m; GraspDetector.detect)
    fill_shadows: float = 0.0  # prune hands reaching this far behind a seen point, away from the camera (m)
    fill_crop: bool = False  # prune hands reaching past the workspace crop where seen points touch it
    precision: str = "fp32"  # the network's arithmetic (GraspDetector.precision): fp32, bf16 or auto

    def load_detector(self) -> Any:
        """The spec's :class:`~equimanip.policies.grasp.detector.GraspDetector`."""
        from equimanip.policies.grasp.detector import GraspDetector

        return GraspDetector.load(self.detector, device=self.device, precision=self.precision)

    @property
    def candidates(self) -> dict[str, bool | float | None]:
        """The candidate options of ``GraspDetector.detect``."""
        return {"flat_grasps": self.flat_grasps, "fill_columns": self.fill_columns,
                "clear_approach": self.clear_approach, "deepen": self.deepen, "fill_shadows": self.fill_shadows,
                "fill_crop": self.fill_crop}


def _spec_round(spec: EvalSpec, world: GraspWorld, planner: Planner, seed: int, round_index: int,
                on_frame: Callable[[], None] | None = None) -> RoundLog:
    """One round under the spec's rules (the evaluation and its video play rounds the same way)."""
    return run_round(world, planner, scene=spec.scene, num_objects=spec.num_objects, seed=seed, round_index=round_index,
                     on_frame=on_frame, allow_contact=spec.allow_contact, min_score=spec.min_score)


def _play(spec: EvalSpec, jobs: list[tuple[int, int]], queue: Any = None, worker: bool = False) -> list[dict]:
    import torch

    if worker:  # the workers already fill the cores: more torch threads per worker only contend
        torch.set_num_threads(1)
    objects = load_object_set(spec.objects)
    planner = detector_planner(spec.load_detector(), spec.num_approach, **spec.candidates)
    out = []
    for seed, r in jobs:
        # a fresh world per round: Bullet's results depend on a world's history, and a round must
        # not depend on which process plays it
        world = GraspWorld(objects, camera=DepthCamera(noise=spec.noise))
        try:
            out.append(asdict(_spec_round(spec, world, planner, seed, r)))
        finally:
            world.close()
        if queue is not None:
            queue.put(1)
    return out


def evaluate(spec: EvalSpec, *, rounds: int, seeds: list[int], workers: int = 1, progress: bool = True,
             video: str | None = None) -> dict[str, Any]:
    """Play ``rounds`` rounds for every seed (in ``workers`` processes) and summarise them; the
    per-round log is in ``result["rounds_log"]``. Results do not depend on ``workers``."""
    from tqdm import tqdm

    from equimanip.policies.grasp.edges import check_deepen, check_fill_shadows

    load_object_set(spec.objects)  # bad object sets and detectors fail here, before any process starts
    spec.load_detector()
    if rounds < 1 or not seeds:
        raise ValueError(f"need rounds ≥ 1 and at least one seed, got rounds={rounds}, seeds={seeds}")
    if workers < 1:
        raise ValueError(f"workers must be ≥ 1, got {workers}")
    if spec.min_score is not None and not 0.0 <= spec.min_score <= 1.0:
        raise ValueError(f"min_score must be in [0, 1] (detector scores are), got {spec.min_score}")
    if spec.deepen is not None:
        check_deepen(spec.deepen)
    check_fill_shadows(spec.fill_shadows, np.zeros(3))  # its length only: every observation carries its viewpoint
    jobs = [(s, r) for s in seeds for r in range(rounds)]
    start = time.perf_counter()
    bar = tqdm(total=len(jobs), desc=f"{spec.detector} {spec.scene}", unit="round", disable=not progress)
    if workers == 1:
        logs = _play_with_bar(spec, jobs, bar)
    else:
        ctx = multiprocessing.get_context("spawn")
        chunks = [jobs[i::workers] for i in range(workers)]
        with ctx.Manager() as manager:
            queue = manager.Queue()
            with ctx.Pool(workers) as pool:
                pending = pool.starmap_async(_play, [(spec, chunk, queue, True) for chunk in chunks if chunk])
                done = 0
                while done < len(jobs):
                    queue.get()
                    done += 1
                    bar.update(1)
                results = pending.get()
        logs = sorted((log for chunk in results for log in chunk), key=lambda d: (d["seed"], d["round"]))
    bar.close()
    round_logs = [RoundLog(**d) for d in logs]
    summary = summarize(round_logs)
    summary.update({"detector": spec.detector, "scene": spec.scene, "objects": spec.objects,
                    "num_objects": spec.num_objects, "noise": spec.noise, "num_approach": spec.num_approach,
                    "allow_contact": spec.allow_contact, "min_score": spec.min_score, "precision": spec.precision,
                    **spec.candidates, "seeds": list(seeds),
                    "rounds_per_seed": rounds, "wall_s": round(time.perf_counter() - start, 2), "workers": workers,
                    "rounds_log": logs})
    if video:
        record_video(spec, seeds[0], video)
    return summary


def _play_with_bar(spec: EvalSpec, jobs: list[tuple[int, int]], bar: Any) -> list[dict]:
    class _Bar:
        def put(self, _: int) -> None:
            bar.update(1)

    return _play(spec, jobs, _Bar())


def record_video(spec: EvalSpec, seed: int, path: str, *, fps: int = 20) -> None:
    """Replay the first round of ``seed`` and write it as an mp4 (RGB from a fixed oblique camera)."""
    from equimanip.envs.cameras import look_at, perspective
    from equimanip.rollout import write_video

    world = GraspWorld(load_object_set(spec.objects), camera=DepthCamera(noise=spec.noise))
    planner = detector_planner(spec.load_detector(), spec.num_approach, **spec.candidates)
    view = look_at(np.array([0.45, -0.45, 0.45]), np.array([0.0, 0.0, 0.05]), np.array([0.0, 0.0, 1.0]))
    projection = perspective(45.0, 4 / 3, 0.05, 3.0)
    frames: list[np.ndarray] = []
    counter = [0]

    def grab() -> None:
        counter[0] += 1
        if counter[0] % 3 == 0:
            frames.append(world.sim.render(320, 240, view, projection, rgb=True).rgb)

    try:
        _spec_round(spec, world, planner, seed, 0, on_frame=grab)
    finally:
        world.close()
    if frames:
        write_video(path, frames, fps=fps)
