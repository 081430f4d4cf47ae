"""Our ROS message conversions (numpy ↔ sensor_msgs dicts) and command conventions, without a master."""

from __future__ import annotations

import math

import numpy as np
import pytest

from equimanip.ros.commands import action_from_twist, pose_stamped_from_action, twist_from_action, yaw_of
from equimanip.ros.messages import (MessageError, cloud_from_xyz, depth_from_image, header_seconds, image_from_depth,
                                    quaternion_from_matrix, stamp, stamp_seconds, xyz_from_cloud)

RNG = np.random.default_rng(0)


def test_stamp_round_trips_to_the_microsecond():
    t = 1_700_000_000.123456
    assert stamp_seconds(stamp(t)) == pytest.approx(t, abs=1e-6)
    assert stamp_seconds({"sec": 3, "nanosec": 500_000_000}) == 3.5  # ROS 2 names


@pytest.mark.parametrize("encoding", ["32FC1", "16UC1"])
def test_depth_image_round_trip(encoding):
    depth = RNG.uniform(0.0, 1.0, (1, 16, 16)).astype(np.float32)
    back = depth_from_image(image_from_depth(depth, "cam", encoding=encoding), size=16)
    np.testing.assert_allclose(back, depth, atol=1e-7 if encoding == "32FC1" else 5e-4)


def test_depth_image_with_row_padding_and_big_endian():
    depth = RNG.uniform(0.0, 1.0, (4, 5)).astype(np.float32)
    rows = [r.astype(">f4").tobytes() + b"\0" * 8 for r in depth]
    msg = {"header": {"stamp": stamp()}, "height": 4, "width": 5, "encoding": "32FC1", "is_bigendian": 1, "step": 28,
           "data": b"".join(rows)}
    np.testing.assert_array_equal(depth_from_image(msg)[0], depth)


def good_image() -> dict:
    return image_from_depth(np.full((8, 8), 0.3, np.float32), "cam")


@pytest.mark.parametrize("change, text", [
    ({"encoding": "rgb8"}, "unsupported image encoding 'rgb8'"),
    ({"height": 0}, "empty image"),
    ({"step": 4}, "row step 4 is shorter"),
    ({"data": b"\0" * 10}, "expected step × height"),
    ({"data": "not bytes"}, "must be bytes"),
], ids=["encoding", "empty", "short-step", "short-data", "data-type"])
def test_bad_images_raise_a_clear_error(change, text):
    with pytest.raises(MessageError, match=text.replace("(", r"\(")):
        depth_from_image({**good_image(), **change})


def test_image_size_must_match_the_policy():
    with pytest.raises(MessageError, match="image is 8×8, the policy needs 64×64"):
        depth_from_image(good_image(), size=64)


def test_nan_depth_is_refused():
    with pytest.raises(MessageError, match="non-finite"):
        depth_from_image(image_from_depth(np.full((4, 4), np.nan, np.float32), "cam"))


def test_cloud_round_trip():
    pts = RNG.normal(size=(100, 3)).astype(np.float32)
    back, dropped = xyz_from_cloud(cloud_from_xyz(pts, "world"))
    np.testing.assert_array_equal(back, pts)
    assert dropped == 0


def test_cloud_with_float64_fields_extra_fields_and_an_organised_layout():
    pts = RNG.normal(size=(2, 3, 3))
    dtype = np.dtype({"names": ["rgb", "x", "y", "z"], "formats": ["<u4", "<f8", "<f8", "<f8"], "offsets": [0, 8, 16, 24],
                      "itemsize": 40})
    arr = np.zeros((2, 3), dtype)
    arr["x"], arr["y"], arr["z"] = pts[..., 0], pts[..., 1], pts[..., 2]
    fields = [{"name": "rgb", "offset": 0, "datatype": 6, "count": 1}] + [
        {"name": n, "offset": 8 * (i + 1), "datatype": 8, "count": 1} for i, n in enumerate("xyz")]
    msg = {"header": {"stamp": stamp()}, "height": 2, "width": 3, "fields": fields, "is_bigendian": False,
           "point_step": 40, "row_step": 120, "data": arr.tobytes()}
    back, _ = xyz_from_cloud(msg)
    np.testing.assert_allclose(back, pts.reshape(-1, 3), atol=1e-6)


def test_cloud_drops_nan_points_and_counts_them():
    pts = RNG.normal(size=(10, 3)).astype(np.float32)
    pts[[2, 5]] = np.nan
    back, dropped = xyz_from_cloud(cloud_from_xyz(pts, "world"))
    assert len(back) == 8 and dropped == 2


def cloud(n: int = 10) -> dict:
    return cloud_from_xyz(RNG.normal(size=(n, 3)), "world")


@pytest.mark.parametrize("change, text", [
    ({"fields": [{"name": "x", "offset": 0, "datatype": 7, "count": 1}]}, "no y/z field"),
    ({"width": 0, "row_step": 0, "data": b""}, "empty"),
    ({"point_step": 8, "row_step": 80, "data": b"\0" * 80}, "does not fit point_step 8"),
    ({"data": b"\0" * 100}, "expected row_step × height = 120"),
    ({"row_step": 60}, "row_step 60 is shorter"),
    ({"fields": [{"name": n, "offset": 4 * i, "datatype": 2, "count": 1} for i, n in enumerate("xyz")]}, "datatype 2"),
], ids=["missing-fields", "empty", "wrong-point-step", "short-data", "short-row-step", "uint8-fields"])
def test_bad_clouds_raise_a_clear_error(change, text):
    with pytest.raises(MessageError, match=text):
        xyz_from_cloud({**cloud(), **change})


def test_an_all_nan_cloud_is_refused():
    with pytest.raises(MessageError, match="no finite point"):
        xyz_from_cloud(cloud_from_xyz(np.full((5, 3), np.nan), "world"))


def test_header_is_required_for_stamps():
    with pytest.raises(MessageError, match="header"):
        header_seconds({"data": b""})


def test_twist_round_trips_to_the_action():
    action = np.array([1.0, 0.3, -0.5, 0.2, -0.7], np.float32)
    twist = twist_from_action(action, dpos=0.02, drot=math.pi / 8, period=0.1)
    assert twist["linear"]["x"] == pytest.approx(0.3 * 0.02 / 0.1)
    back = action_from_twist(twist, open_gripper=True, dpos=0.02, drot=math.pi / 8, period=0.1)
    np.testing.assert_allclose(back, action, atol=1e-6)


def test_a_nan_twist_is_refused():
    with pytest.raises(MessageError, match="not finite"):
        action_from_twist({"linear": {"x": np.nan, "y": 0, "z": 0}, "angular": {"x": 0, "y": 0, "z": 0}}, True, 0.02, 0.4, 0.1)


def test_pose_stamped_moves_and_turns_the_current_pose():
    current = {"position": {"x": 0.5, "y": 0.0, "z": 0.2}, "orientation": {"x": 1.0, "y": 0.0, "z": 0.0, "w": 0.0}}
    msg = pose_stamped_from_action(np.array([1, 1, 0, -1, 1.0]), current, dpos=0.02, drot=0.3, frame_id="base")
    p = msg["pose"]["position"]
    assert (p["x"], p["y"], p["z"]) == pytest.approx((0.52, 0.0, 0.18))
    assert yaw_of(msg["pose"]["orientation"]) == pytest.approx(0.3)  # the hand turned by dθ·drot about the base z
    assert msg["header"]["frame_id"] == "base"


def test_quaternion_from_matrix_matches_a_known_rotation():
    c, s = math.cos(0.4), math.sin(0.4)
    assert quaternion_from_matrix(np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])) == pytest.approx(
        (0, 0, math.sin(0.2), math.cos(0.2)))


def test_rospy_messages_round_trip_through_our_dicts():
    """The ROS 1 transport's generic conversion (Debian's rospy classes; no master needed)."""
    from geometry_msgs.msg import PoseArray
    from sensor_msgs.msg import PointCloud2

    from equimanip.ros.ros1 import to_dict, to_msg

    d = cloud(7)
    back = to_dict(to_msg(PointCloud2, d))
    assert back["data"] == d["data"] and back["fields"][2]["name"] == "z" and back["header"]["stamp"] == d["header"]["stamp"]
    poses = {"header": {"frame_id": "cam"}, "poses": [{"position": {"x": 1.0, "y": 2.0, "z": 3.0},
                                                       "orientation": {"x": 0, "y": 0, "z": 0, "w": 1.0}}]}
    assert to_dict(to_msg(PoseArray, poses))["poses"][0]["position"]["y"] == 2.0
    with pytest.raises(ValueError, match="has no field 'colour'"):
        to_msg(PoseArray, {"colour": 1})


def test_debian_rospy_is_reached_without_shadowing_pip_packages():
    """The venv's .pth appends Debian's dist-packages: rospy from there, numpy and torch still the venv's."""
    import sys

    import numpy
    import rospy
    import torch

    assert rospy.__file__.startswith("/usr/lib/python3/dist-packages/")
    for module in (numpy, torch):
        assert module.__file__.startswith(sys.prefix), module.__file__
    assert sys.path.index("/usr/lib/python3/dist-packages") > max(i for i, p in enumerate(sys.path) if "site-packages" in p)
