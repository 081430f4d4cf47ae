"""Where a detector's approaches stop on a contact: benchmark rounds replayed, each approach contact classified.

VGN's evaluation (ours by default) stops the hand at the first contact on its way in and closes there; such
attempts are the largest failure count of `scripts/bench_grasp.py`. For every attempt whose approach stopped,
this finds what the hand touched (the table or an object; the hand link: palm, finger 0 or finger 1) and where
that contact lay relative to what the detector saw:

- *outside the crop*: beyond the workspace square the cloud is cropped to (that part of the object is not in
  the cloud at all);
- *in shadow*: behind a seen point on the camera ray (the hidden side of a seen object);
- *in front*: nearer the camera than the seen surface on its ray (free space when the view was taken);
- *no ray*: no seen point within 5 mm of the camera ray through it.

    python scripts/grasp_contacts.py --detector outputs/grasp_runs/edge_vgn_deep_s10/model.pt --scene pile \\
        --objects '/work/shared/grasp_objects/pile_train#test' --seeds 0 1 --rounds 20
"""

from __future__ import annotations

import argparse
import collections

import numpy as np

RAY_RADIUS = 0.005  # a seen point this close to the camera ray through a contact lies on that ray
LINKS = {-1: "palm", 0: "finger 0", 1: "finger 1"}


def classify(q: np.ndarray, eye: np.ndarray, cloud: np.ndarray, half: float) -> str:
    """Where contact point ``q`` lay relative to the cloud seen from ``eye`` (see the module docstring)."""
    if np.abs(q[:2]).max() > half:
        return "outside the crop"
    ray = q - eye
    dist = np.linalg.norm(ray)
    ray /= dist
    v = cloud - eye
    along = v @ ray
    near = np.linalg.norm(v - along[:, None] * ray, axis=1) < RAY_RADIUS
    if not near.any():
        return "no ray"
    return "in shadow" if (dist - along[near]).max() > -0.003 else "in front"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--detector", required=True, help="a detector name or model path (as for `grasp eval`)")
    parser.add_argument("--scene", choices=("pile", "packed"), default="pile", help="scene type (default pile)")
    parser.add_argument("--objects", required=True, help="object set (as for `grasp eval`)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0], help="benchmark seeds (default 0)")
    parser.add_argument("--rounds", type=int, default=20, help="rounds per seed (default 20)")
    parser.add_argument("--fill-shadows", type=float, default=0.0, help="the detector's --fill-shadows (default 0)")
    args = parser.parse_args()

    from equimanip.envs.grasping import benchmark, world
    from equimanip.envs.grasping.camera import DepthCamera
    from equimanip.envs.grasping.hand import FloatingHand
    from equimanip.envs.grasping.objects import load_object_set

    state: dict = {}
    move_linear, execute, observe = FloatingHand.move_linear, world.GraspWorld.execute, world.GraspWorld.observe

    def traced_move(hand, pose, **kwargs):
        ok = move_linear(hand, pose, **kwargs)
        if kwargs.get("abort_on_contact") and not ok:
            c, names = hand.sim.client, {v: k for k, v in hand.sim._bodies.items()}
            state["contacts"] = [(p[3], names.get(other, "?"), np.array(p[5]))
                                 for other in hand.sim._bodies.values() if other != hand.body
                                 for p in c.getClosestPoints(hand.body, other, 0.0)]
        return ok

    def traced_observe(w, rng, **kwargs):
        state["observation"] = observe(w, rng, **kwargs)
        return state["observation"]

    def traced_execute(w, pose, allow_contact=False):
        state["contacts"] = []
        result = execute(w, pose, allow_contact)
        if result.approach_contact:
            obs = state["observation"]
            first = state["contacts"][0] if state["contacts"] else (None, "?", None)
            objects = [cp for cp in state["contacts"] if cp[1] != "table"]
            where = ("table" if not objects else
                     classify(objects[0][2], np.asarray(obs.viewpoint), np.asarray(obs.points), world.WORKSPACE_HALF))
            link = LINKS.get((objects[0] if objects else first)[0], "?")
            state["log"].append((result.success, where, link))
        return result

    FloatingHand.move_linear, world.GraspWorld.execute, world.GraspWorld.observe = (traced_move, traced_execute,
                                                                                     traced_observe)
    state["log"] = []
    spec = benchmark.EvalSpec(detector=args.detector, scene=args.scene, objects=args.objects,
                              fill_shadows=args.fill_shadows)
    objects = load_object_set(spec.objects)
    planner = benchmark.detector_planner(spec.load_detector(), spec.num_approach, **spec.candidates)
    attempts = 0
    for seed in args.seeds:
        for r in range(args.rounds):
            w = world.GraspWorld(objects, camera=DepthCamera(noise=spec.noise))
            try:
                attempts += len(benchmark._spec_round(spec, w, planner, seed, r).attempts)
            finally:
                w.close()
    log = state["log"]
    print(f"{args.detector} on {args.scene} ({args.objects}), seeds {args.seeds} × {args.rounds} rounds: "
          f"{attempts} attempts, {len(log)} stopped on a contact, {sum(not s for s, _, _ in log)} of them failed")
    for outcome, name in ((False, "failed"), (True, "held anyway")):
        where = collections.Counter(w for s, w, _ in log if s == outcome)
        links = collections.Counter(k for s, _, k in log if s == outcome)
        print(f"  {name}: " + ", ".join(f"{k} {v}" for k, v in where.most_common())
              + " | touched with " + ", ".join(f"{k} {v}" for k, v in links.most_common()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
