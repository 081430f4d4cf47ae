"""``equimanip ros ...``: the ROS bridge nodes."""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import time
from typing import Any


def _setup_logging(level: str) -> None:
    # our own handler: rospy reconfigures the root logger when a node starts
    logger = logging.getLogger("equimanip")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("[%(asctime)s] %(levelname)s %(name)s: %(message)s"))
    logger.handlers[:] = [handler]
    logger.setLevel(level.upper())
    logger.propagate = False


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt  # SIGTERM stops a node like Ctrl-C does: the robot is held first


def _non_negative(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}") from None
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected a number of seconds >= 0, got {text!r}")
    return value


def _set_threads(args: argparse.Namespace) -> None:
    import torch

    # measured: a 32 px CNN takes 1.5 ms per action on one thread and 250 ms on two while another
    # process keeps both cores busy; a node shares the CPU with the robot's other processes
    torch.set_num_threads(max(1, args.threads))


def _start(args: argparse.Namespace, default_name: str) -> Any:
    from equimanip.ros.transport import connect

    _setup_logging(args.log_level)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return connect(args.node_name or default_name, rosbridge=args.rosbridge, ros2=args.ros2,
                       timeout=args.connect_timeout)
    except RuntimeError as exc:  # ROS not installed, rosbridge unreachable: one line, no traceback
        raise ValueError(str(exc)) from None


def cmd_policy_node(args: argparse.Namespace) -> int:
    from equimanip.robots import load_robot_config
    from equimanip.ros.policy import load_policy
    from equimanip.ros.policy_node import run_policy_node

    _set_threads(args)
    config = load_robot_config(args.robot)
    policy = load_policy(args.run, device=args.device)
    transport = _start(args, "equimanip_policy")
    try:
        stats = run_policy_node(transport, policy, config, rate_hz=args.rate, max_age=args.max_age,
                                max_actions=args.max_actions, state_wait=args.state_wait)
    finally:
        transport.shutdown()
    print(json.dumps({"actions": stats.actions, "holds": stats.holds, "seconds": round(stats.seconds, 3)}))
    return 0


def cmd_sim_robot(args: argparse.Namespace) -> int:
    from equimanip.cli import _env_options
    from equimanip.envs.sim_robot import SimRobot
    from equimanip.robots import load_robot_config
    from equimanip.rollout import write_json
    from equimanip.ros.sim_robot_node import SimRobotNode

    if bool(args.env) == bool(args.run):
        raise ValueError("give --env ID or --run RUN_DIR (the env and options the run was trained with)")
    if args.run:
        from equimanip.ros.policy import run_env

        env_id, options = run_env(args.run)
    else:
        env_id, options = args.env, {}
    options.update(_env_options(args))
    if not args.no_point_cloud:
        options["observations"] = tuple(dict.fromkeys((*options.get("observations", ()), "point_cloud")))
    config = load_robot_config(args.robot)
    robot = SimRobot(env_id, seed=args.seed, **options)
    robot.connect()
    transport = _start(args, "equimanip_sim_robot")
    node = SimRobotNode(transport, robot, config, seed=args.seed, episodes=args.episodes, mode=args.mode,
                        rate_hz=args.rate, republish=args.republish)
    try:
        node.serve()
    except KeyboardInterrupt:
        pass
    finally:
        transport.shutdown()
        robot.disconnect()
    result = {"env": env_id, "seed": args.seed, "mode": args.mode, **node.results.to_json()}
    if args.json:
        write_json(args.json, result)
    print(json.dumps({k: v for k, v in result.items() if k != "episodes"}))
    return 0


def cmd_grasp_server(args: argparse.Namespace) -> int:
    from equimanip.policies.grasp.detector import GraspDetector
    from equimanip.ros.grasp_server import GraspServer

    _set_threads(args)
    detector = GraspDetector.load(args.detector, device=args.device)
    transport = _start(args, "equimanip_grasp_server")
    try:
        server = GraspServer(transport, detector, cloud_topic=args.cloud_topic, grasps_topic=args.grasps_topic,
                             scores_topic=args.scores_topic, markers_topic=args.markers_topic, top_k=args.top_k,
                             table_height=args.table_height, max_age=args.max_age)
        while not transport.is_shutdown():
            transport.sleep_until(time.monotonic() + 1.0)
    except KeyboardInterrupt:
        pass
    finally:
        transport.shutdown()
    st = server.stats
    print(json.dumps({"clouds": st.clouds, "answered": st.answered, "empty": st.empty, "skipped": server.checks.skipped}))
    return 0


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--rosbridge", metavar="HOST:PORT",
                   help="talk to a rosbridge websocket server (ROS 2 users) through roslibpy instead of a ROS 1 master; "
                        "without it the node uses rospy and ROS_MASTER_URI")
    p.add_argument("--ros2", action="store_true",
                   help="with --rosbridge: the graph behind it is ROS 2 (time fields sec/nanosec, types pkg/msg/Type)")
    p.add_argument("--connect-timeout", type=float, default=10.0, metavar="S",
                   help="with --rosbridge: seconds to wait for the server at start-up (default 10); a ROS 1 node waits "
                        "for its master without limit")
    p.add_argument("--node-name", metavar="NAME", help="ROS node name (default: equimanip_<command>)")
    p.add_argument("--threads", type=int, default=1, metavar="N",
                   help="torch CPU threads (default 1: more threads are much slower when other processes share the cores)")
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"),
                   help="log level of equimanip's messages on stderr (default: info)")


def add_ros_parser(sub: argparse._SubParsersAction) -> None:
    """Register ``equimanip ros`` and its sub-commands."""
    from equimanip.cli import _parse_option

    p = sub.add_parser("ros", help="ROS bridge: grasp server, policy node, simulated robot",
                       description="ROS nodes: `equimanip ros COMMAND --help` lists each command's options.")
    ros_sub = p.add_subparsers(dest="ros_command", metavar="COMMAND")
    ros_sub.required = True

    t = ros_sub.add_parser("policy-node", help="run a trained policy on a robot through ROS topics",
                           description="Subscribe the depth image (sensor_msgs/Image, 32FC1 or 16UC1) and the gripper "
                                       "state, and publish the policy's action at a fixed rate as a command "
                                       "(geometry_msgs/TwistStamped by default, see assets/robots/README.md) plus a "
                                       "gripper command. Each action answers a new image; stale, out-of-order or "
                                       "malformed messages are logged and skipped, and the robot is held (zero command) "
                                       "until fresh input arrives. Ctrl-C or SIGTERM holds the robot and exits.")
    t.add_argument("--run", required=True, metavar="RUN_DIR", help="a run directory written by `equimanip train`")
    t.add_argument("--robot", default="sim", metavar="NAME|FILE",
                   help="robot config: franka, ur, sim (our sim-robot; default) or a JSON file (assets/robots/README.md)")
    t.add_argument("--rate", type=float, metavar="HZ",
                   help="control rate; twists are delta / period, so a sim-robot must use the same --rate "
                        "(default: the robot config's control_rate_hz)")
    t.add_argument("--max-age", type=float, default=0.5, metavar="S",
                   help="messages older than this are stale: skipped, and the robot held (default 0.5 s)")
    t.add_argument("--state-wait", type=_non_negative, default=0.1, metavar="S",
                   help="wait up to S seconds for a gripper state and end-effector pose as new as the image (they "
                        "come on other topics and may trail it); after that the newest is used and a line logged "
                        "(default 0.1 s; a lock-step simulation on a loaded machine may need 1)")
    t.add_argument("--max-actions", type=int, metavar="N", help="exit after N actions (default: serve until stopped)")
    t.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda (default auto)")
    _common(t)
    t.set_defaults(func=cmd_policy_node)

    t = ros_sub.add_parser("sim-robot", help="our simulation as a ROS robot (camera, point cloud, joint states out; "
                                             "commands in)",
                           description="Serve an equimanip env on ROS: publishes the depth image (32FC1), the point "
                                       "cloud (PointCloud2, world frame), joint states, the holding flag and a JSON "
                                       "summary of each episode on /equimanip/episode; takes the commands of "
                                       "`equimanip ros policy-node` (topics of assets/robots/sim.json) and "
                                       "std_msgs/Int64 seeds on /equimanip/reset. In lockstep mode each command is one "
                                       "env step, so episodes equal the in-process ones.")
    t.add_argument("--env", metavar="ID", help="task id, e.g. equimanip/BlockInBowl-v0")
    t.add_argument("--run", metavar="RUN_DIR", help="use the env and env options this run was trained with")
    t.add_argument("--option", action="append", type=_parse_option, metavar="KEY=VALUE",
                   help="env option, repeatable (e.g. --option image_size=64 --option dpos=0.02)")
    t.add_argument("--camera", choices=("gripper_topdown", "fixed_topdown", "side"), help="observation camera")
    t.add_argument("--seed", type=int, default=0, metavar="S", help="seed of the first episode (then S+1, …; default 0)")
    t.add_argument("--episodes", type=int, metavar="N", help="exit after N episodes (default: serve until stopped)")
    t.add_argument("--mode", choices=("lockstep", "realtime"), default="lockstep",
                   help="lockstep: one env step per command (default); realtime: step at --rate, holding without commands")
    t.add_argument("--rate", type=float, metavar="HZ",
                   help="control rate the commands are scaled with (must equal the policy node's --rate), and "
                        "realtime's step rate (default: the robot config's control_rate_hz)")
    t.add_argument("--republish", type=float, default=1.0, metavar="S",
                   help="lockstep: re-send the current image after S seconds without a command (default 1.0)")
    t.add_argument("--robot", default="sim", metavar="NAME|FILE", help="topic names: a robot config (default: sim)")
    t.add_argument("--no-point-cloud", action="store_true", help="do not render and publish the point cloud")
    t.add_argument("--json", metavar="PATH", help="write the episodes' results as JSON on exit")
    _common(t)
    t.set_defaults(func=cmd_sim_robot)

    t = ros_sub.add_parser("grasp-server", help="detect grasps in sensor_msgs/PointCloud2 and publish them",
                           description="Subscribe a PointCloud2 (x/y/z float32 or float64 fields; other fields ignored, "
                                       "NaN points dropped) and publish the best grasps as geometry_msgs/PoseArray in the "
                                       "cloud's frame and stamp, their scores and widths as std_msgs/Float32MultiArray "
                                       "([score, width] per grasp, same order) and rviz markers (MarkerArray). Malformed, "
                                       "stale or out-of-order clouds are logged and skipped; a slow detector drops "
                                       "clouds rather than queueing them.")
    t.add_argument("--detector", default="heuristic", metavar="NAME|PATH",
                   help="grasp detector: heuristic (antipodal geometry; default), random-edge, default, vn-edge (shipped "
                        "networks) or a checkpoint from `equimanip grasp train`")
    t.add_argument("--cloud-topic", default="/equimanip/camera/points", metavar="TOPIC",
                   help="input PointCloud2 (default: /equimanip/camera/points, the sim-robot's)")
    t.add_argument("--grasps-topic", default="/equimanip/grasps", metavar="TOPIC", help="output PoseArray")
    t.add_argument("--scores-topic", default="/equimanip/grasp_scores", metavar="TOPIC",
                   help="output Float32MultiArray of [score, width] per grasp")
    t.add_argument("--markers-topic", default="/equimanip/grasp_markers", metavar="TOPIC", help="output MarkerArray for rviz")
    t.add_argument("--top-k", type=int, default=10, metavar="K", help="grasps published per cloud (default 10)")
    t.add_argument("--table-height", type=float, metavar="Z",
                   help="z of the table plane in the cloud's frame: cropped, and grasps touching it pruned (default: none)")
    t.add_argument("--max-age", type=float, default=2.0, metavar="S", help="clouds older than this are skipped (default 2 s)")
    t.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda (default auto)")
    _common(t)
    t.set_defaults(func=cmd_grasp_server)
