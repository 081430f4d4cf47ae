"""SEIL's transition simulation: corrective samples around every free-space expert step.

Jia, Wang et al., "SEIL: Simulation-augmented Equivariant Imitation Learning" (ICRA 2023,
REFERENCES §4). Each demo is replayed in the env from its recorded seed (episodes are
deterministic, and the replay is checked frame by frame against the dataset). At every step ``t`` where
the gripper holds nothing, ``n`` perturbations ``δ ~ clip(N(−a_{t−1}, σ), −1, 1)`` of
``(dx, dy, dz, dθ)`` move a *virtual* gripper from the expert's pose ``s_t``
(:meth:`TabletopEnv.simulate`): centred on ``−a_{t−1}``, the virtual gripper lies around the
previous pose, off the demonstrated path. Its view is labelled with the exact action back to the
expert's pose ``s_t`` — the next pose of the demonstration from there — which is ``−δ``
and always one step; the gripper command of ``a_{t−1}`` is copied. After a step that moved nothing
(``t = 0``, a grasp, a release) the views lie around ``s_t`` itself; they are labelled with the
action to the expert's next pose ``s_{t+1}`` and ``a_t``'s gripper command instead (rejected when
that is more than one step away): "back to ``s_t``" would teach the policy to stay where the expert
moves on.
Invalid virtual poses (outside the workspace, in collision) are rejected and counted.

``reach > 1`` (our extension, not SEIL's) widens the planar part of the perturbations: ``(dx, dy)``
is drawn with std ``reach·σ`` and clipped to ±``reach`` steps (``dz`` and ``dθ`` keep SEIL's σ and ±1: a
yaw off by more than half a cube's quarter-turn period would look like the opposite error), and a view
farther than one step from its target is labelled with the step towards it, clipped per component
as the experts' own actions are: views of the scene from farther off the demonstrated path (a held
cube farther from or nearer to its goal), each labelled with a move that closes the gap.

``grasp_offset_n > 0`` (our extension, not SEIL's) gives that many of the ``n`` views of each step
holding an object an off-centre grasp: the carried object is also shifted within the virtual hand by
``u ~ U(−grasp_offset, grasp_offset)`` metres along the fingers' jaw (the one direction a parallel grip
leaves free). A demonstrated grasp is always centred, so without them a policy that grasps a little
off-centre sees a view it never saw and chases the held cube as if it were the one to pick. The
label keeps the *object* on the demonstrated path: the step to the expert's pose less the offset
(what our experts do on the way down: they servo on the held object), clipped per component, with the
demo's gripper command, as SEIL's labels copy it. The experts release only within ``XY_TOL`` (4 mm) of
the target; a first version labelled views more than that off "closed" at the release, but 4 mm is
less than a pixel at 64 px, and its policies hovered beside the target without letting go.

``release_views`` (our extension, not SEIL's): at a release (the expert opens while holding) the views are
drawn around the release pose itself (``δ ~ N(0, σ)``) rather than around the previous pose, which lies
above it: the policy also sees the release point from a little *below* (the carried object pressed onto
its support) and beside, labelled "open" with the step back. Without them, a policy that comes down a few
millimetres too far has never seen a reason to let go there and holds on for the rest of the episode.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from equimanip.symmetry import ACTION_INDEX

DELTA_COMPONENTS = ("dxy", "dz", "dtheta")


@dataclass
class Samples:
    """Training samples: image inputs, holding flags, action labels and where each came from."""

    depth: np.ndarray  # N×1×S×S float32
    holding: np.ndarray  # N×1 float32
    action: np.ndarray  # N×5 float32
    simulated: np.ndarray  # N bool: made by transition simulation
    weight: np.ndarray  # N float32: sampling weight (see replay_samples)
    stats: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.action)

    @staticmethod
    def concatenate(parts: list[Samples], stats: dict[str, Any] | None = None) -> Samples:
        return Samples(*(np.concatenate([getattr(p, k) for p in parts]) for k in _ARRAYS), stats=stats or {})

    def save(self, path) -> None:
        from equimanip.atomic import atomic_path

        with atomic_path(path) as tmp:
            with open(tmp, "wb") as f:
                np.savez(f, **{k: getattr(self, k) for k in _ARRAYS})

    @staticmethod
    def load(path) -> Samples:
        with np.load(path) as data:
            return Samples(*(data[k] for k in _ARRAYS))


_ARRAYS = ("depth", "holding", "action", "simulated", "weight")


def _delta_of(action: np.ndarray) -> np.ndarray:
    """``(dx, dy, dz, dθ)`` of an action."""
    return np.concatenate([action[ACTION_INDEX[k]] for k in DELTA_COMPONENTS])


def _offset_label(u: Any, view: Any, target: np.ndarray, yaw: float, gripper: float, offset: np.ndarray | None,
                  clip: bool) -> np.ndarray | None:
    """The corrective label of a view; with an in-hand ``offset`` the step that keeps the object on the
    demonstrated path (clipped), with the demo's gripper command."""
    if offset is None:
        return u.corrective_action(view, target, yaw, gripper, clip)
    return u.corrective_action(view, np.asarray(target) - np.array([offset[0], offset[1], 0.0]), yaw, gripper, clip=True)


def _keep(u: Any, view: Any, offset: np.ndarray | None, gripper: float, clip: bool, kept: list,
          counts: dict[str, int]) -> bool:
    """Label a simulated view towards the commanded pose and keep it; a view more than one step from
    its pose is rejected."""
    label = _offset_label(u, view, u.robot.target_position, u.robot.target_yaw, gripper, offset, clip)
    if label is None:
        counts["rejected_far"] += 1
        return False
    kept.append((view.observation["depth"], view.observation["holding"], label))
    counts["grasp_offsets"] += offset is not None
    return True


def replay_samples(env: Any, dataset: Any, episodes: list[int] | None = None, n: int = 4, sigma: float = 0.4,
                   seed: int = 0, progress: bool = False, simulate_holding: bool = False,
                   sim_weight: float = 1.0, reach: float = 1.0, grasp_offset_n: int = 0,
                   grasp_offset: float = 0.02, release_views: bool = False, switch_weight: float = 1.0) -> Samples:
    """Expert samples of ``dataset`` plus ``n`` simulated corrective samples per free-space step
    (and per step holding an object, carried with the virtual gripper, when ``simulate_holding``).

    Sampling weights: each simulated sample ``sim_weight`` (1: SEIL, every sample alike), each expert
    sample ``1 + n·sim_weight`` less its step's kept simulated samples, so every step carries the same mass.
    ``sim_weight = 4 / n`` keeps SEIL's balance between expert and simulated samples with ``n`` > 4.
    ``reach``: largest planar perturbation in steps per axis (1: SEIL); beyond one step, labels are clipped steps.
    ``grasp_offset_n`` of the ``n`` views of each step holding an object (with ``simulate_holding``) shift it
    within the hand by up to ``grasp_offset`` metres along the jaw (module docstring). ``release_views``: views of
    a release step around the release pose itself (module docstring). ``switch_weight``: the steps where the
    expert's gripper command changes (a grasp, a release), their expert sample and their views, are drawn
    that many times as often: one such step per grasp against dozens that keep the command.

    ``env`` must be made with the dataset's env id and options (checked by replaying: every
    recorded depth image must be reproduced exactly). ``n = 0`` gives the plain expert samples.
    """
    from tqdm import tqdm

    if not switch_weight >= 1:
        raise ValueError(f"switch_weight must be a number >= 1 (1: no extra weight), got {switch_weight!r}")
    if n < 0 or sigma <= 0 or not sim_weight > 0 or not reach >= 1:
        raise ValueError(f"transition simulation needs n >= 0, sigma > 0, sim_weight > 0 and reach >= 1, got n={n}, "
                         f"sigma={sigma}, sim_weight={sim_weight}, reach={reach}")
    if not 0 <= grasp_offset_n <= n or not grasp_offset > 0 or (grasp_offset_n and not simulate_holding):
        raise ValueError(f"grasp offsets need 0 <= grasp_offset_n <= n, grasp_offset > 0 metres and simulate_holding, "
                         f"got grasp_offset_n={grasp_offset_n}, n={n}, grasp_offset={grasp_offset}, "
                         f"simulate_holding={simulate_holding}")
    clip = reach > 1
    scale = np.array([reach, reach, 1.0, 1.0])  # (dx, dy, dz, dθ): only the planar move widens
    u = env.unwrapped
    rng = np.random.default_rng(seed)
    parts: list[Samples] = []
    counts = {"expert": 0, "simulate_calls": 0, "simulated": 0, "rejected_invalid": 0, "rejected_far": 0, "holding_steps": 0,
              "rewinds": 0, "grasp_offsets": 0, "switch_steps": 0}
    sim_seconds = 0.0
    episodes = list(range(dataset.num_episodes)) if episodes is None else episodes
    for i in tqdm(episodes, desc="transition simulation" if n else "loading demos", unit="demo", disable=not progress):
        ep = dataset.episode(i)
        depth, holding, actions = ep["observation.images.depth"], ep["observation.holding"], ep["action"]
        # SEIL gives steps without simulated samples (holding, rejected poses) extra rotated copies
        # instead: here a sampling weight, so every expert step carries 1 + n samples' worth
        weight = np.full(len(actions), 1.0 + n * sim_weight, dtype=np.float32)
        parts.append(Samples(depth.astype(np.float32), holding.astype(np.float32), actions.astype(np.float32),
                             np.zeros(len(actions), bool), weight))
        counts["expert"] += len(actions)
        grip = np.sign(actions[:, ACTION_INDEX["p"]][:, 0])
        switch = np.r_[False, grip[1:] != grip[:-1]]  # the steps where the command changes: a grasp, a release
        counts["switch_steps"] += int(switch.sum())
        if n == 0:
            weight[switch] *= switch_weight
            continue
        obs, _ = env.reset(seed=int(ep["seed"]))
        kept: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (depth, holding, label)
        kept_step: list[int] = []  # the step each kept view belongs to
        for t, action in enumerate(actions):
            if not np.array_equal(obs["depth"], depth[t]):
                raise ValueError(f"episode {i} of the dataset does not replay in {u.env_id} with these options (frame {t} "
                                 "differs): it was recorded with another version or configuration of the env")
            held = u.held_bodies()
            is_holding = bool(held)
            counts["holding_steps"] += int(is_holding)
            pending = []  # views to label towards s_{t+1}, once the step has been taken
            if simulate_holding or not is_holding:
                # δ centred on -a_prev puts the virtual gripper near the previous pose; its label is the
                # exact action back to the expert's current pose (-δ), with the expert's gripper command
                a_prev = actions[t - 1] if t > 0 else np.zeros_like(action)
                # free space: the gripper command that led to s_t (never close on the way to a grasp);
                # carrying: the command at s_t, so poses around the release point are labelled "open"
                gripper = float((action if is_holding or t == 0 else a_prev)[ACTION_INDEX["p"]][0])
                # after a step that moved nothing (the first step, a grasp or a release) s_{t-1} = s_t: the
                # views lie around s_t itself and "back to s_t" would teach the policy to stay where the
                # expert moves on (it then hovers at the start or never lifts what it grasped); the expert's
                # next pose from there is s_{t+1}, so these views are labelled towards it after the step
                towards_next = not np.any(_delta_of(a_prev))
                # a release: views around s_t itself, below it too (labelled back to s_t, open)
                centre = (np.zeros(4) if release_views and is_holding and action[ACTION_INDEX["p"]][0] > 0
                          else -_delta_of(a_prev))
                start = time.perf_counter()
                # only what simulate can carry is shifted (a drawer's handle is not): no draw, so such tasks'
                # samples are the same with and without offsets
                shifted = grasp_offset_n if u.can_carry(held) else 0
                hand_yaw = u.robot.ee_pose()[1] if shifted else 0.0  # the real hand: once per step
                for k in range(n):
                    delta = np.clip(rng.normal(centre, sigma * scale), -scale, scale)
                    offset = None
                    if k >= n - shifted:  # along the virtual hand's jaw
                        jaw = hand_yaw + float(delta[3]) * u.options.drot
                        offset = rng.uniform(-grasp_offset, grasp_offset) * np.array([math.cos(jaw), math.sin(jaw)])
                    view = u.simulate(delta, carry_held=simulate_holding, held_offset=offset)
                    counts["simulate_calls"] += 1
                    if not view.valid:
                        counts["rejected_invalid"] += 1
                    elif towards_next:
                        pending.append((view, offset))
                    else:
                        weight[t] -= sim_weight * _keep(u, view, offset, gripper, clip, kept, counts)
                sim_seconds += time.perf_counter() - start
            if simulate_holding and is_holding and n:
                # carrying teleports a body, which can leave Bullet's broadphase and contact caches
                # changed: rewind to this step exactly by replaying the episode from its seed
                obs, _ = env.reset(seed=int(ep["seed"]))
                for past in actions[:t]:
                    obs, *_ = env.step(past)
                counts["rewinds"] += 1
            obs, _, terminated, truncated, _ = env.step(action)
            for view, offset in pending:  # the commanded pose is now s_{t+1}; a_t's gripper command
                weight[t] -= sim_weight * _keep(u, view, offset, float(action[ACTION_INDEX["p"]][0]), clip, kept, counts)
            kept_step += [t] * (len(kept) - len(kept_step))
            if (terminated or truncated) and t + 1 < len(actions):
                raise ValueError(f"episode {i} of the dataset ends early on replay (step {t}): it does not replay in this env")
        weight[switch] *= switch_weight  # the step's whole mass: its expert sample here, its views below
        if kept:
            views_d, views_h, views_a = (np.stack(x).astype(np.float32) for x in zip(*kept))
            view_weight = np.where(switch[kept_step], sim_weight * switch_weight, sim_weight).astype(np.float32)
            parts.append(Samples(views_d, views_h, views_a, np.ones(len(views_a), bool), view_weight))
            counts["simulated"] += len(views_a)
    stats = {**counts, "n": n, "sigma": sigma, "sim_weight": sim_weight, "reach": reach, "simulate_holding": simulate_holding,
             "grasp_offset_n": grasp_offset_n, "grasp_offset": grasp_offset, "release_views": release_views,
             "switch_weight": switch_weight, "episodes": len(episodes),
             "simulate_ms_per_call": 1000 * sim_seconds / max(counts["simulate_calls"], 1)}
    return Samples.concatenate(parts, stats)


__all__ = ["Samples", "replay_samples"]
