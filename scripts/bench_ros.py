"""ROS bridge benchmark -> docs/benchmarks/ros.md (+ ros.json).

Through a real ROS 1 master (``roscore`` from Debian, on 127.0.0.1, started here):

1. grasp server latency: PointCloud2 (10 k and 100 k points, a box on a table) published by this
   process, PoseArray received back; p50/p99 over ``--clouds`` clouds after 3 warm-up ones, one at
   a time (the next cloud goes out when the answer came), beside the detector's own time in process;
2. the policy node's sustained action rate: depth images published for ``--seconds`` s (30 Hz
   under the nominal 10 Hz; 1 kHz unthrottled), commands answering them counted;
3. with ``--run RUN_DIR`` (a trained run): success through ROS (sim-robot ↔ master ↔ policy-node,
   lockstep) vs in process (``equimanip eval``'s evaluation) on the same episodes.

    python scripts/bench_ros.py                                  # 1 and 2 (with a tiny untrained policy)
    python scripts/bench_ros.py --run runs/bowl_seil --episodes 50 --seed 2000000
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]


def commit() -> str:
    out = subprocess.run(["git", "log", "-1", "--format=%h %s"], cwd=ROOT, capture_output=True, text=True)
    return out.stdout.strip()[:90] or "unknown"


def percentiles(values: list[float]) -> dict[str, float]:
    arr = np.asarray(values)
    return {"p50": float(np.percentile(arr, 50)), "p99": float(np.percentile(arr, 99)), "mean": float(arr.mean()),
            "n": len(arr)}


def scene(n: int, seed: int) -> np.ndarray:
    from equimanip.policies.grasp.synthetic import box_cloud

    pts, _ = box_cloud(spacing=0.0015, table_half_extent=0.15)
    rng = np.random.default_rng(seed)
    return (pts[rng.choice(len(pts), n, replace=len(pts) < n)] + rng.normal(0, 0.0005, (n, 3))).astype(np.float32)


def tiny_run(path: Path) -> Path:
    import torch

    from equimanip.agents.bc import BCConfig, make_network

    config = BCConfig(env="equimanip/BlockInBowl-v0", policy="cnn", n_hidden=16, env_options={"dpos": 0.02, "image_size": 64})
    config.validate()
    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(config.to_json())
    torch.save({"model": make_network(config, 64).state_dict(), "image_size": 64}, path / "model.pt")
    return path


def grasp_latency(core, detector: str, sizes: list[int], clouds: int, log_dir: Path) -> list[dict]:
    import rospy
    from geometry_msgs.msg import PoseArray
    from sensor_msgs.msg import PointCloud2

    from equimanip.policies.grasp.detector import GraspDetector
    from equimanip.ros.messages import cloud_from_xyz
    from equimanip.ros.ros1 import to_msg
    from equimanip.ros.testing import NodeProcess

    node = NodeProcess(["ros", "grasp-server", "--detector", detector, "--table-height", "0.0", "--device", "cpu",
                        "--max-age", "30"], core.env, log_dir / "grasp_server.log", cwd=ROOT)
    answers: dict[float, float] = {}
    cond = threading.Condition()

    def on(msg):
        with cond:
            answers[msg.header.stamp.to_sec()] = time.time()
            cond.notify_all()

    rospy.Subscriber("/equimanip/grasps", PoseArray, on, queue_size=10)
    pub = rospy.Publisher("/equimanip/camera/points", PointCloud2, queue_size=1)
    rows = []
    try:
        if not node.wait_for("grasp server:", 120):
            raise RuntimeError(node.text())
        while pub.get_num_connections() == 0:
            time.sleep(0.05)
        time.sleep(1.0)  # the server's publishers reach us
        det = GraspDetector.load(detector, device="cpu")
        for n in sizes:
            lat, inproc = [], []
            for i in range(clouds + 3):
                pts = scene(n, i)
                msg = to_msg(PointCloud2, cloud_from_xyz(pts, "camera_link"))
                t = time.time()
                msg.header.stamp = rospy.Time.from_sec(t)
                key = msg.header.stamp.to_sec()
                pub.publish(msg)
                with cond:
                    if not cond.wait_for(lambda k=key: k in answers, timeout=60):
                        raise RuntimeError(f"no answer to a {n}-point cloud; server log:\n{node.text()[-2000:]}")
                if i >= 3:
                    lat.append(1000 * (answers[key] - t))
                    t0 = time.perf_counter()
                    det.detect(pts, top_k=10, table_height=0.0)
                    inproc.append(1000 * (time.perf_counter() - t0))
            rows.append({"points": n, "detector": detector, "ros_ms": percentiles(lat), "detect_ms": percentiles(inproc)})
            print(f"grasp server {detector} {n} points: p50 {rows[-1]['ros_ms']['p50']:.0f} ms, p99 "
                  f"{rows[-1]['ros_ms']['p99']:.0f} ms (detect alone p50 {rows[-1]['detect_ms']['p50']:.0f} ms)", flush=True)
    finally:
        node.stop()
    return rows


def action_rate(core, run: Path, rate: float, image_hz: float, seconds: float, log_dir: Path) -> dict:
    import rospy
    from geometry_msgs.msg import TwistStamped
    from sensor_msgs.msg import Image
    from std_msgs.msg import Bool

    from equimanip.ros.messages import image_from_depth
    from equimanip.ros.policy import run_env
    from equimanip.ros.ros1 import to_msg
    from equimanip.ros.testing import NodeProcess

    size = int(run_env(run)[1].get("image_size", 64))
    node = NodeProcess(["ros", "policy-node", "--run", str(run), "--rate", str(rate), "--device", "cpu"], core.env,
                       log_dir / f"policy_{rate:g}.log", cwd=ROOT)
    stamps: list[float] = []
    sent: set[float] = set()
    lock = threading.Lock()

    def on(msg):
        with lock:
            stamps.append(msg.header.stamp.to_sec())

    sub = rospy.Subscriber("/equimanip/cmd_twist", TwistStamped, on, queue_size=1000)
    pub_img = rospy.Publisher("/equimanip/camera/depth", Image, queue_size=1)
    pub_hold = rospy.Publisher("/equimanip/gripper_holding", Bool, queue_size=1, latch=True)
    depth = np.random.default_rng(0).uniform(0.0, 0.1, (size, size)).astype(np.float32)
    try:
        while pub_img.get_num_connections() == 0 or pub_hold.get_num_connections() == 0:
            time.sleep(0.05)
        pub_hold.publish(Bool(False))

        def publish_for(duration: float) -> None:
            end = time.monotonic() + duration
            next_t = time.monotonic()
            while time.monotonic() < end:
                msg = to_msg(Image, image_from_depth(depth, "camera", time.time()))
                sent.add(msg.header.stamp.to_sec())
                pub_img.publish(msg)
                next_t += 1.0 / image_hz
                time.sleep(max(0.0, next_t - time.monotonic()))

        publish_for(3.0)  # warm-up: connections, first inferences
        with lock:
            stamps.clear()
        t0 = time.monotonic()
        publish_for(seconds)
        elapsed = time.monotonic() - t0
        time.sleep(0.3)
        with lock:
            answered = [s for s in stamps if s in sent]
    finally:
        sub.unregister()
        node.stop()
    result = {"nominal_hz": rate, "image_hz": image_hz, "size": size, "seconds": round(elapsed, 2), "actions": len(answered),
              "actions_per_s": len(answered) / elapsed}
    print(f"policy node at --rate {rate:g}: {result['actions_per_s']:.1f} actions/s ({image_hz:g} Hz images)", flush=True)
    return result


def loop_through_ros(core, run: Path, episodes: int, seed: int, log_dir: Path, robot: str) -> dict:
    """The run's episodes through sim-robot ↔ roscore ↔ policy-node with ``robot``'s conventions."""
    from equimanip.rollout import wilson_interval
    from equimanip.ros.testing import NodeProcess, write_robot_config_in_sim

    config = robot if robot == "sim" else str(write_robot_config_in_sim(robot, log_dir / f"{robot}_in_sim.json"))
    out = log_dir / f"sim_{robot}.json"
    t = time.monotonic()
    sim = NodeProcess(["ros", "sim-robot", "--run", str(run), "--episodes", str(episodes), "--seed", str(seed),
                       "--no-point-cloud", "--robot", config, "--json", str(out)], core.env,
                      log_dir / f"sim_robot_{robot}.log", cwd=ROOT)
    policy = NodeProcess(["ros", "policy-node", "--run", str(run), "--device", "cpu", "--robot", config], core.env,
                         log_dir / f"policy_loop_{robot}.log", cwd=ROOT)
    try:
        sim.wait(timeout=60 * episodes + 120)
    finally:
        policy.stop()
        sim.stop()
    through = json.loads(out.read_text())
    k = sum(e["success"] for e in through["episodes"])
    return {"robot": robot, "success_rate": k / episodes, "ci95": wilson_interval(k, episodes),
            "mean_length": float(np.mean([e["length"] for e in through["episodes"]])),
            "seconds": time.monotonic() - t, "skipped_commands": through["skipped_commands"]}


def success_through_ros(core, run: Path, episodes: int, seed: int, log_dir: Path, trained_with: str = "",
                        robots: tuple[str, ...] = ("sim", "franka")) -> dict:
    from equimanip.cli import _load_any_run

    loops = [loop_through_ros(core, run, episodes, seed, log_dir, robot) for robot in robots]
    from equimanip.agents.train_rl import evaluate

    t = time.monotonic()
    model, config = _load_any_run(run, device="cpu")
    inproc = evaluate(model, config, episodes, seed)
    local_s = time.monotonic() - t
    cfg = json.loads((run / "config.json").read_text())
    algo = cfg.get("kind", "rl") if cfg.get("kind") != "bc" else ("SEIL" if cfg.get("simulate_n", 0) > 0 else "BC")
    trained = (f"{algo}, {cfg.get('policy')} {cfg.get('group', '')} network, {cfg.get('demos')} demos, "
               f"{cfg.get('steps')} steps, seed {cfg.get('seed')}, env options {cfg.get('env_options')}")
    if trained_with:
        trained += f"; trained with `{trained_with}`"
    return {"episodes": episodes, "seed": seed, "trained": trained, "through_ros": loops,
            "inprocess_mean_length": inproc["mean_length"],
            "inprocess_success_rate": inproc["success_rate"], "inprocess_ci95": inproc["success_ci95"],
            "inprocess_seconds": local_s}


LOOP_NAMES = {"sim": "sim topics (TwistStamped)", "franka": "Franka adapter (franka_ros conventions)",
              "ur": "UR adapter (ur_robot_driver conventions)"}


def write_report(path: Path, data: dict) -> None:
    from equimanip.atomic import atomic_write_text

    lines = ["# ROS bridge benchmark", "",
             f"Machine: {platform.machine()}, {os.cpu_count()} CPU cores, no GPU; Python {platform.python_version()}; "
             f"ROS 1 from Debian 12 (ros-core 1.16, rospy 1.15.15), roscore on 127.0.0.1. Commit: `{data['commit']}`. "
             f"Last command: `{data['command']}`. Load average (1 min) at start / end: {data['load'][0]:.1f} / "
             f"{data['load'][1]:.1f} on {os.cpu_count()} cores (other work on the machine inflates latencies).", ""]
    if data.get("grasp"):
        lines += ["## Grasp server: PointCloud2 → PoseArray",
                  "", "Latency from publishing a cloud to receiving its PoseArray (both through the master's TCPROS "
                  "connections, serialisation included), one cloud at a time, after 3 warm-up clouds; beside it the same "
                  "detector called in process on the same clouds. Cloud: a 5×4×6 cm box on a 30 cm table square, "
                  f"`--table-height 0`. Measured by `{data.get('grasp_command', data['command'])}`.", "",
                  "| detector | points | clouds | p50 ms | p99 ms | detector alone p50 ms | p99 ms |",
                  "|---|---|---|---|---|---|---|"]
        for r in data["grasp"]:
            lines.append(f"| {r['detector']} | {r['points']:,} | {r['ros_ms']['n']} | {r['ros_ms']['p50']:.0f} | "
                         f"{r['ros_ms']['p99']:.0f} | {r['detect_ms']['p50']:.0f} | {r['detect_ms']['p99']:.0f} |")
        lines.append("")
    if data.get("rate"):
        lines += ["## Policy node: sustained action rate", "",
                  f"Depth images ({data['rate'][0]['size']} px, 32FC1, fresh stamps) published at the rate shown; commands "
                  f"(TwistStamped) that answer an image counted over the window. Policy: `{data['rate_run']}`. "
                  f"Measured by `{data.get('rate_command', data['command'])}`.", "",
                  "| `--rate` | images Hz | seconds | actions | actions/s |", "|---|---|---|---|---|"]
        for r in data["rate"]:
            lines.append(f"| {r['nominal_hz']:g} | {r['image_hz']:g} | {r['seconds']} | {r['actions']} | "
                         f"{r['actions_per_s']:.1f} |")
        lines.append("")
    if data.get("success"):
        s = data["success"]
        lines += ["## A trained policy: through ROS vs in process", "",
                  f"Run `{data['success_run']}`; the same {s['episodes']} episodes (seeds {s['seed']}–"
                  f"{s['seed'] + s['episodes'] - 1}) through `sim-robot` ↔ roscore ↔ `policy-node` (lockstep) and with "
                  f"`equimanip eval`'s in-process evaluation. 95 % Wilson intervals. Measured by "
                  f"`{data.get('success_command', data['command'])}`.", "",
                  f"The policy: {s.get('trained', '')}.", "",
                  "| path | success | 95 % CI | mean length | wall s | commands skipped |", "|---|---|---|---|---|---|",
                  *[f"| through ROS, {LOOP_NAMES.get(r['robot'], r['robot'])} | {r['success_rate']:.2f} | "
                    f"{r['ci95'][0]:.2f}–{r['ci95'][1]:.2f} | {r['mean_length']:.2f} | {r['seconds']:.0f} | "
                    f"{r['skipped_commands']} |" for r in s["through_ros"]],
                  f"| in process | {s['inprocess_success_rate']:.2f} | {s['inprocess_ci95'][0]:.2f}–"
                  f"{s['inprocess_ci95'][1]:.2f} | {s.get('inprocess_mean_length', float('nan')):.2f} | "
                  f"{s['inprocess_seconds']:.0f} | – |", "",
                  "Through ROS the sim robot steps at the policy node's 10 Hz control rate (lockstep: one step per "
                  "command), which is most of its wall time; in process runs as fast as it can. The Franka row "
                  "(the UR row likewise, with ur.json's unstamped Twist, tool0 from TF and a width topic) runs "
                  "`--robot` with franka.json's conventions (PoseStamped equilibrium targets from the TF pose, "
                  "franka_gripper Move/Grasp goals waited on, holding read off the finger joint states) and the "
                  "sim's workspace box; its holding is inferred from finger widths, not the sim's contacts "
                  "(docs/ros.md).", ""]
    atomic_write_text(path, "\n".join(lines))
    atomic_write_text(path.with_suffix(".json"), json.dumps(data, indent=2))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--detector", default="heuristic", help="grasp detector of the latency part (default heuristic)")
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000], help="cloud sizes (default 10000 100000)")
    p.add_argument("--clouds", type=int, default=30, help="measured clouds per size (default 30)")
    p.add_argument("--seconds", type=float, default=10.0, help="window of the action-rate measurement (default 10)")
    p.add_argument("--run", help="a trained run: measure its success through ROS vs in process (part 3)")
    p.add_argument("--trained-with", default="", metavar="COMMAND", help="how the --run was trained, quoted in the report")
    p.add_argument("--episodes", type=int, default=20, help="episodes of part 3 (default 20)")
    p.add_argument("--seed", type=int, default=2_000_000, help="first episode seed of part 3 (default 2000000)")
    p.add_argument("--robots", nargs="+", default=["sim", "franka"], metavar="NAME",
                   help="robot configs of part 3, served by the sim robot (default: sim franka)")
    p.add_argument("--skip", nargs="*", default=[], choices=("grasp", "rate"), help="parts to leave out")
    p.add_argument("--out", default=str(ROOT / "docs" / "benchmarks" / "ros.md"), help="report path")
    args = p.parse_args(argv)

    import torch

    from equimanip.ros.testing import start_roscore

    torch.set_num_threads(1)  # the in-process detector runs like the nodes (--threads 1)
    core = start_roscore()
    os.environ.update(core.env)  # this process is a rospy node on the same master
    import rospy

    rospy.init_node("equimanip_bench", anonymous=True, disable_signals=True, disable_rostime=True)
    log_dir = Path(tempfile.mkdtemp(prefix="equimanip-bench-ros-"))
    shown = sys.argv[1:] if argv is None else argv
    out = Path(args.out)
    # parts measured by an earlier command are kept (each says which command measured it)
    data: dict = json.loads(out.with_suffix(".json").read_text()) if out.with_suffix(".json").exists() else {}
    command = " ".join(["python scripts/bench_ros.py", shlex.join(shown)]).strip()
    data.update({"commit": commit(), "command": command, "load": [os.getloadavg()[0]]})
    try:
        if "grasp" not in args.skip:
            data["grasp"] = grasp_latency(core, args.detector, args.sizes, args.clouds, log_dir)
            data["grasp_command"] = f"{command}` at commit `{data['commit'][:7]}"
        if "rate" not in args.skip:
            run = Path(args.run) if args.run else tiny_run(log_dir / "tiny_run")
            data["rate_run"] = args.run or "a small untrained CNN (64 px)"
            # a 30 Hz camera under the nominal 10 Hz, and images as fast as this process sends them unthrottled
            data["rate"] = [action_rate(core, run, r, hz, args.seconds, log_dir) for r, hz in ((10.0, 30.0), (1000.0, 1000.0))]
            data["rate_command"] = f"{command}` at commit `{data['commit'][:7]}"
        if args.run:
            data["success_run"] = args.run
            data["success"] = success_through_ros(core, Path(args.run), args.episodes, args.seed, log_dir, args.trained_with,
                                                  tuple(args.robots))
            data["success_command"] = f"{command}` at commit `{data['commit'][:7]}"
            for r in data["success"]["through_ros"]:
                print(f"through ROS ({r['robot']}) {r['success_rate']:.2f}", flush=True)
            print(f"in process {data['success']['inprocess_success_rate']:.2f} over {args.episodes} episodes", flush=True)
    finally:
        rospy.signal_shutdown("done")
        core.stop()
    data["load"].append(os.getloadavg()[0])
    write_report(out, data)
    print(f"wrote {args.out} (logs in {log_dir})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
