"""ROS messages as plain dicts, and our own numpy conversions with validation.

Every node works on messages in the dict form rosbridge uses (ROS 1 field names; ``uint8[]`` as
``bytes``): the ROS 1 transport converts them to and from rospy's classes, the rosbridge transport to
JSON. No rospy or roslibpy import here, so the conversions are tested without either.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from typing import Any

import numpy as np

DEPTH_ENCODINGS = {"32FC1": np.dtype("float32"), "16UC1": np.dtype("uint16")}
# sensor_msgs/PointField datatypes
POINT_FIELD_DTYPES = {1: "i1", 2: "u1", 3: "i2", 4: "u2", 5: "i4", 6: "u4", 7: "f4", 8: "f8"}
FLOAT32 = 7
MAX_POINTS = 5_000_000  # larger clouds are refused: they would not fit a bounded queue


class MessageError(ValueError):
    """A message that cannot be used: the node logs this text and skips the message."""


# ------------------------------------------------------------------------------------------------
# Time and headers
def stamp(t: float | None = None) -> dict[str, int]:
    """A ``time`` field (``secs``, ``nsecs``) for ``t`` seconds (default: now)."""
    t = time.time() if t is None else t
    secs = int(math.floor(t))
    return {"secs": secs, "nsecs": int(round((t - secs) * 1e9)) % 1_000_000_000}


def stamp_seconds(value: Mapping[str, Any]) -> float:
    """Seconds of a ``time`` field, ROS 1 (``secs``/``nsecs``) or ROS 2 (``sec``/``nanosec``) names."""
    try:
        secs = value["secs"] if "secs" in value else value["sec"]
        nsecs = value["nsecs"] if "nsecs" in value else value["nanosec"]
        return float(secs) + float(nsecs) * 1e-9
    except (KeyError, TypeError) as exc:
        raise MessageError(f"header.stamp has no secs/nsecs: {value!r}") from exc


def header(frame_id: str, t: float | None = None) -> dict[str, Any]:
    return {"seq": 0, "stamp": stamp(t), "frame_id": frame_id}


def header_seconds(msg: Mapping[str, Any]) -> float:
    try:
        return stamp_seconds(msg["header"]["stamp"])
    except (KeyError, TypeError) as exc:
        raise MessageError("message has no header.stamp") from exc


def _field(msg: Mapping[str, Any], name: str) -> Any:
    try:
        return msg[name]
    except (KeyError, TypeError):
        raise MessageError(f"message has no field {name!r}") from None


# ------------------------------------------------------------------------------------------------
# sensor_msgs/Image <-> depth arrays
def depth_from_image(msg: Mapping[str, Any], size: int | None = None, scale_16uc1: float = 0.001) -> np.ndarray:
    """A depth ``sensor_msgs/Image`` as a ``1×H×W`` float32 array in metres.

    ``32FC1`` is metres; ``16UC1`` is integer units of ``scale_16uc1`` metres (millimetres by
    default; 0, "no reading", stays 0). With ``size`` the image must be ``size×size``: we do not
    resize, since a policy's depth image is metric and a resize would change what a pixel means.
    Raises :class:`MessageError` for other encodings, sizes, a row step or data length that do not
    fit, or non-finite depths.
    """
    encoding = str(_field(msg, "encoding"))
    if encoding not in DEPTH_ENCODINGS:
        raise MessageError(f"unsupported image encoding {encoding!r}; accepted: {', '.join(DEPTH_ENCODINGS)}")
    height, width, step = int(_field(msg, "height")), int(_field(msg, "width")), int(_field(msg, "step"))
    if height <= 0 or width <= 0:
        raise MessageError(f"empty image ({height}×{width})")
    if size is not None and (height, width) != (size, size):
        raise MessageError(f"image is {height}×{width}, the policy needs {size}×{size} (crop/resize before publishing)")
    dtype = DEPTH_ENCODINGS[encoding]
    data = _field(msg, "data")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise MessageError(f"image data must be bytes, got {type(data).__name__}")
    if step < width * dtype.itemsize:
        raise MessageError(f"row step {step} is shorter than {width} pixels of {encoding} ({width * dtype.itemsize} bytes)")
    if len(data) != step * height:
        raise MessageError(f"image data has {len(data)} bytes, expected step × height = {step * height}")
    big = bool(msg.get("is_bigendian", False))
    rows = np.frombuffer(data, dtype=np.uint8).reshape(height, step)[:, : width * dtype.itemsize]
    img = rows.copy().view(dtype.newbyteorder(">" if big else "<")).reshape(height, width)
    depth = img.astype(np.float32)
    if encoding == "16UC1":
        depth *= np.float32(scale_16uc1)
    elif not np.all(np.isfinite(depth)):
        raise MessageError(f"depth image has {int(np.sum(~np.isfinite(depth)))} non-finite pixels")
    return depth[None]


def image_from_depth(depth: np.ndarray, frame_id: str, t: float | None = None, encoding: str = "32FC1",
                     scale_16uc1: float = 0.001) -> dict[str, Any]:
    """A ``sensor_msgs/Image`` dict of a ``H×W`` or ``1×H×W`` depth array (metres)."""
    arr = np.asarray(depth)
    if arr.ndim == 3 and arr.shape[0] == 1:
        arr = arr[0]
    if arr.ndim != 2:
        raise ValueError(f"depth must be H×W or 1×H×W, got shape {np.shape(depth)}")
    if encoding == "32FC1":
        out = arr.astype("<f4")
    elif encoding == "16UC1":
        out = np.clip(np.round(arr / scale_16uc1), 0, 65535).astype("<u2")
    else:
        raise ValueError(f"unsupported encoding {encoding!r}; accepted: {', '.join(DEPTH_ENCODINGS)}")
    h, w = out.shape
    return {"header": header(frame_id, t), "height": h, "width": w, "encoding": encoding, "is_bigendian": 0,
            "step": w * out.itemsize, "data": out.tobytes()}


# ------------------------------------------------------------------------------------------------
# sensor_msgs/PointCloud2 <-> N×3 arrays
def xyz_from_cloud(msg: Mapping[str, Any], max_points: int = MAX_POINTS) -> tuple[np.ndarray, int]:
    """The finite points of a ``sensor_msgs/PointCloud2`` as ``N×3`` float32, and how many were dropped.

    Reads the ``x``, ``y``, ``z`` fields at their offsets (float32 or float64, either byte order),
    whatever else the points hold. Raises :class:`MessageError` when a field is missing or of another
    type, the point step is shorter than the fields or the data length does not fit
    ``row_step × height`` (``point_step × width`` per row), or no finite point is left.
    """
    fields = {f["name"]: f for f in _field(msg, "fields") if isinstance(f, Mapping) and "name" in f}
    missing = [n for n in "xyz" if n not in fields]
    if missing:
        raise MessageError(f"PointCloud2 has no {'/'.join(missing)} field(s); fields: {sorted(fields) or 'none'}")
    height, width = int(_field(msg, "height")), int(_field(msg, "width"))
    point_step, row_step = int(_field(msg, "point_step")), int(_field(msg, "row_step"))
    n = height * width
    if n == 0:
        raise MessageError("PointCloud2 is empty (0 points)")
    if n > max_points:
        raise MessageError(f"PointCloud2 has {n} points; at most {max_points} are accepted")
    big = ">" if msg.get("is_bigendian", False) else "<"
    names, formats, offsets = [], [], []
    for name in "xyz":
        f = fields[name]
        code = POINT_FIELD_DTYPES.get(int(f.get("datatype", 0)))
        if code not in ("f4", "f8"):
            raise MessageError(f"PointCloud2 field {name} has datatype {f.get('datatype')}; accepted: FLOAT32 (7), FLOAT64 (8)")
        if int(f.get("count", 1)) != 1:
            raise MessageError(f"PointCloud2 field {name} has count {f.get('count')}, expected 1")
        offset = int(f.get("offset", -1))
        if offset < 0 or offset + int(code[1]) > point_step:
            raise MessageError(f"PointCloud2 field {name} (offset {offset}, {code[1]} bytes) does not fit point_step "
                               f"{point_step}")
        names.append(name)
        formats.append(big + code)
        offsets.append(offset)
    if row_step < point_step * width:
        raise MessageError(f"row_step {row_step} is shorter than width × point_step = {point_step * width}")
    data = _field(msg, "data")
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise MessageError(f"PointCloud2 data must be bytes, got {type(data).__name__}")
    if len(data) != row_step * height:
        raise MessageError(f"PointCloud2 data has {len(data)} bytes, expected row_step × height = {row_step * height} "
                           f"(point_step {point_step}, width {width}, height {height})")
    dtype = np.dtype({"names": names, "formats": formats, "offsets": offsets, "itemsize": point_step})
    raw = np.frombuffer(data, dtype=np.uint8).reshape(height, row_step)[:, : point_step * width]
    pts = np.ascontiguousarray(raw).view(dtype).reshape(-1)
    xyz = np.stack([pts["x"], pts["y"], pts["z"]], axis=1).astype(np.float32)
    finite = np.all(np.isfinite(xyz), axis=1)
    kept = xyz[finite]
    if len(kept) == 0:
        raise MessageError(f"PointCloud2 has no finite point ({n} NaN/inf points)")
    return kept, int(n - len(kept))


def cloud_from_xyz(points: np.ndarray, frame_id: str, t: float | None = None) -> dict[str, Any]:
    """An unorganised ``sensor_msgs/PointCloud2`` dict (x, y, z float32, 12-byte points)."""
    pts = np.ascontiguousarray(np.asarray(points, dtype="<f4"))
    if pts.ndim != 2 or pts.shape[1] != 3:
        raise ValueError(f"points must be N×3, got shape {pts.shape}")
    fields = [{"name": n, "offset": 4 * i, "datatype": FLOAT32, "count": 1} for i, n in enumerate("xyz")]
    return {"header": header(frame_id, t), "height": 1, "width": len(pts), "fields": fields,
            "is_bigendian": False, "point_step": 12, "row_step": 12 * len(pts),
            "data": pts.tobytes(), "is_dense": bool(np.all(np.isfinite(pts)))}


# ------------------------------------------------------------------------------------------------
# Small geometry messages
def quaternion_from_matrix(m: np.ndarray) -> tuple[float, float, float, float]:
    """(x, y, z, w) of a 3×3 rotation matrix (Shepperd's method: stable for every rotation)."""
    m = np.asarray(m, dtype=np.float64)
    tr = m[0, 0] + m[1, 1] + m[2, 2]
    if tr > 0:
        s = 2.0 * math.sqrt(tr + 1.0)
        w, x, y, z = 0.25 * s, (m[2, 1] - m[1, 2]) / s, (m[0, 2] - m[2, 0]) / s, (m[1, 0] - m[0, 1]) / s
    elif m[0, 0] > m[1, 1] and m[0, 0] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[0, 0] - m[1, 1] - m[2, 2])
        w, x, y, z = (m[2, 1] - m[1, 2]) / s, 0.25 * s, (m[0, 1] + m[1, 0]) / s, (m[0, 2] + m[2, 0]) / s
    elif m[1, 1] > m[2, 2]:
        s = 2.0 * math.sqrt(1.0 + m[1, 1] - m[0, 0] - m[2, 2])
        w, x, y, z = (m[0, 2] - m[2, 0]) / s, (m[0, 1] + m[1, 0]) / s, 0.25 * s, (m[1, 2] + m[2, 1]) / s
    else:
        s = 2.0 * math.sqrt(1.0 + m[2, 2] - m[0, 0] - m[1, 1])
        w, x, y, z = (m[1, 0] - m[0, 1]) / s, (m[0, 2] + m[2, 0]) / s, (m[1, 2] + m[2, 1]) / s, 0.25 * s
    return float(x), float(y), float(z), float(w)


def quaternion_multiply(a: Any, b: Any) -> np.ndarray:
    """``a ⊗ b`` for quaternions in ROS order (x, y, z, w)."""
    x1, y1, z1, w1 = (float(v) for v in a)
    x2, y2, z2, w2 = (float(v) for v in b)
    return np.array([w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2, w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
                     w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2, w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2])


def quaternion_inverse(q: Any) -> np.ndarray:
    """The inverse of a quaternion (x, y, z, w): its conjugate over its squared norm."""
    q = np.asarray(q, dtype=np.float64)
    return np.array([-q[0], -q[1], -q[2], q[3]]) / np.dot(q, q)


def rotate(q: Any, v: Any) -> np.ndarray:
    """``v`` rotated by the unit quaternion ``q`` (x, y, z, w)."""
    q = np.asarray(q, dtype=np.float64)
    u, w = q[:3], q[3]
    return np.asarray(v, dtype=np.float64) + 2.0 * np.cross(u, np.cross(u, v) + w * np.asarray(v, dtype=np.float64))


def pose(position: Any, quaternion: Any) -> dict[str, Any]:
    x, y, z = (float(v) for v in position)
    qx, qy, qz, qw = (float(v) for v in quaternion)
    return {"position": {"x": x, "y": y, "z": z}, "orientation": {"x": qx, "y": qy, "z": qz, "w": qw}}


def vector3(x: float, y: float, z: float) -> dict[str, float]:
    return {"x": float(x), "y": float(y), "z": float(z)}
