"""Where a trained BC / SEIL policy goes wrong: its evaluation episodes replayed next to the scripted expert.

For every failed episode: its length, whether an object is held at the end, the gripper's commanded
position, and the policy's action beside the expert's action *in the same state* over the first and
last steps (actions are ``(p, dx, dy, dz, dθ)``). A policy stuck at a fixed point shows as near-zero
motion where the expert moves on; this is how the "stay" labels after a grasp were found (README, SEIL).
The last lines tally the failures by mode: never grasped, a grasp-and-release loop (3 or more grasps),
still holding at the end, let go elsewhere.

    python scripts/bc_failures.py outputs/experiment/runs/seil-seed0 --episodes 10
"""

from __future__ import annotations

import argparse

import gymnasium as gym
import numpy as np

MODES = ("never grasped", "grasp-and-release loop", "still holding", "let go elsewhere")
LOOP_GRASPS = 3  # grasps of one episode from which it counts as a loop (picking up again after letting go)


def failure_mode(grasps: int, holding: bool) -> str:
    """A failed episode's mode from its grasp count and whether it ends holding (``MODES``): a loop before holding,
    so a loop that ends mid-grasp counts as a loop."""
    if grasps == 0:
        return MODES[0]
    if grasps >= LOOP_GRASPS:
        return MODES[1]
    return MODES[2] if holding else MODES[3]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run", help="a BC/SEIL run directory (from `equimanip train bc|seil` or `equimanip experiment`)")
    parser.add_argument("--episodes", type=int, default=10, help="evaluation episodes replayed (default 10)")
    parser.add_argument("--seed", type=int, default=None,
                        help="training seed whose evaluation episodes to replay (default: the run's own)")
    parser.add_argument("--show", type=int, default=3, help="steps shown at the start and at the end (default 3)")
    parser.add_argument("--brief", action="store_true",
                        help="one line per failed episode (grasps, final state, where the bodies ended), no steps")
    args = parser.parse_args()

    import equimanip  # noqa: F401  (registers the envs)
    from equimanip.agents.bc import first_eval_seed, load_run
    from equimanip.agents.train_rl import episode_limit

    policy, config = load_run(args.run, "cpu")
    seed = config.seed if args.seed is None else args.seed
    # the run's evaluation episodes: the same seeds and the same step limit
    env = gym.make(config.env, **config.env_options, max_episode_steps=episode_limit(config))
    u = env.unwrapped
    np.set_printoptions(precision=2, suppress=True)
    failures = 0
    modes = dict.fromkeys(MODES, 0)
    for ep in range(args.episodes):
        obs, _ = env.reset(seed=first_eval_seed(seed) + ep)
        log, success = [], False
        while True:
            action, _ = policy.predict(obs)
            log.append((len(log), bool(u.holding()), np.array(u.robot.target_position), action, np.asarray(u.expert_action())))
            obs, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                success = bool(info["is_success"])
                break
        if success:
            continue
        failures += 1
        t, holding, position, *_ = log[-1]
        held = [h for _, h, *_ in log] + [bool(u.holding())]
        grasps = [k for k in range(1, len(held)) if held[k] and not held[k - 1]]  # steps after which it held anew
        modes[failure_mode(len(grasps), holding)] += 1
        bodies = ", ".join(f"{name} {np.r_[u.body_xy_yaw(name)[0], u.body_xy_yaw(name)[1]]}" for name in u.tracked_bodies())
        print(f"episode {ep} (seed {first_eval_seed(seed) + ep}): failed after {t + 1} steps, "
              f"{'holding' if holding else 'not holding'}, gripper at {position}, {len(grasps)} grasps"
              f"{f' (first after step {grasps[0]})' if grasps else ''}; bodies (x, y, z) at the end: {bodies}")
        if args.brief:
            continue
        shown = log[: args.show] + log[-args.show:] if len(log) > 2 * args.show else log
        for t, holding, position, action, expert in shown:
            print(f"  t={t:2d} {'held' if holding else 'free'} at {position}  policy {action}  expert {expert}")
    if failures:
        print("failure modes: " + ", ".join(f"{mode} {n}" for mode, n in modes.items()))
    print(f"{failures} of {args.episodes} episodes failed")
    env.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
