"""Edge grasp candidates: cloud preprocessing, grasp pose from an (approach, contact) edge, sampling
and pruning of candidate edges.

After Huang, Wang, Zhu, Walters & Platt, "Edge Grasp Network: A Graph-Based SE(3)-invariant
Approach to Grasp Detection" (ICRA 2023, arXiv:2211.00191). An *edge* joins an approach point
p_a (sampled by farthest-point sampling; it ends up between the fingers) and a contact point p_c
within a ball around it (one finger touches there). With n_c the contact's surface normal:

    y = n_c                                         closing axis
    z = a = normalise(n_c × (n_c × (p_a − p_c)))    approach direction
    x = y × z
    depth = (p_c − p_a)·a,  half_baseline = (p_c − p_a)·n_c
    TCP = p_a + (depth + tip_margin)·a

so the fingertips reach ``tip_margin`` past the contact, which lies on the finger pad: the contact
sets how deep the hand goes, as in Edge Grasp (contacts 3 mm before to ~4 cm past the approach
point; the palm must stay clear of p_a). The frame convention is the one of
:mod:`equimanip.policies.grasp.gripper`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from equimanip.policies.grasp.balls import camera_position, view_rays
from equimanip.policies.grasp.gripper import FRANKA_HAND, GripperGeometry
from equimanip.policies.grasp.point_ops import ball_query, farthest_point_sample

TABLE_MARGIN = 0.005  # a hand point this close above the table plane counts as a collision
TABLE_CROP = 0.005  # preprocess_cloud(table_height=...) drops the points this close above the table
# The open hand's volumes must stay this far from every cloud point (a negative tolerance: the volumes
# grow). The benchmark fails a grasp whose hand touches anything before closing (VGN), and with points
# tolerated 3 mm inside the palm most of the heuristic's top grasps did.
COLLISION_TOLERANCE = -0.002
PALM_CLEARANCE = 0.003  # the approach point itself must lie this far in front of the palm face
# how far back along the approach the hand starts (VGN's pre-grasp distance, envs.grasping.world.PREGRASP)
APPROACH_SWEEP = 0.05
DEEPEN_STEP = 0.004  # sample_edges(deepen=...): the extra depths tried, this far apart
MAX_SHADOW = 0.1  # sample_edges(fill_shadows=...): longer shadows fill whole scenes
MAX_BALL_POINTS = 1024  # contact candidates kept per approach ball (the nearest ones)
_EPS = 1e-9
LEVEL_TILT = 35.0  # degrees: a contact normal this close to horizontal may be levelled (flat grasps)
RIM_RADIUS = 0.015  # neighbourhood that tells a top face's rim from its inside (flat grasps)
RIM_OFFSET = 0.25  # rim: the neighbours' centroid lies this many RIM_RADIUS inwards, horizontally
RIM_MIN_NZ = math.cos(math.radians(30))  # a top-face normal: within 30° of vertical


@dataclass
class EdgeSet:
    """Candidate edge grasps of one cloud (all tensors on the cloud's device, E edges).

    Attributes:
        approach_idx: ``(A,)`` indices of the sampled approach points.
        edges: ``(E, 2)`` long ``(approach point index, contact point index)`` into the points.
        poses: ``(E, 4, 4)`` grasp poses (frame of :mod:`~equimanip.policies.grasp.gripper`).
        widths: ``(E,)`` suggested opening (m).
        depth: ``(E,)`` contact depth along the approach axis from the approach point.
        half_baseline: ``(E,)`` contact offset from the approach point along the closing axis.
        extra: ``(E,)`` how much deeper than Edge Grasp's construction each hand goes (m, along its
            approach; ``sample_edges(deepen=...)``); zeros when not given.
    """

    approach_idx: torch.Tensor
    edges: torch.Tensor
    poses: torch.Tensor
    widths: torch.Tensor
    depth: torch.Tensor
    half_baseline: torch.Tensor
    extra: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.extra is None:
            self.extra = torch.zeros_like(self.depth)

    def __len__(self) -> int:
        return int(self.edges.shape[0])

    def subset(self, keep: torch.Tensor) -> EdgeSet:
        """The edges selected by ``keep`` (bool mask or indices); the approach points are kept."""
        return EdgeSet(self.approach_idx, self.edges[keep], self.poses[keep], self.widths[keep], self.depth[keep],
                       self.half_baseline[keep], self.extra[keep])

    @classmethod
    def empty(cls, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32) -> EdgeSet:
        z = torch.zeros(0, dtype=dtype, device=device)
        return cls(torch.zeros(0, dtype=torch.long, device=device), torch.zeros(0, 2, dtype=torch.long, device=device),
                   torch.zeros(0, 4, 4, dtype=dtype, device=device), z, z.clone(), z.clone())


def preprocess_cloud(points: np.ndarray, normals: np.ndarray | None = None, *, voxel_size: float = 0.0045,
                     viewpoint: np.ndarray | None = None,
                     table_height: float | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Crop the table, voxel-downsample a cloud and give it unit normals (open3d).

    Args:
        points: ``(N, 3)`` finite coordinates (m).
        normals: ``(N, 3)`` normals, averaged per voxel and renormalised; estimated when ``None``
            (PCA over the 30 nearest neighbours within 4 cm, as the Edge Grasp code does).
        voxel_size: voxel edge (m); 0 skips downsampling.
        viewpoint: camera position; estimated normals are flipped to face it (single-view clouds
            see only surfaces facing the camera). ``None``: flipped towards +z.
        table_height: when given, points less than ``TABLE_CROP`` above the plane ``z = table_height``
            (and below it) are dropped first: table points only attract approach points to grasps
            that the table check then prunes (VGN and Edge Grasp crop the same way).

    Returns:
        ``(points, normals)``, float32 ``(M, 3)`` arrays.
    """
    import open3d as o3d

    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 2 or points.shape[1] != 3:
        raise ValueError(f"points must have shape (N, 3); got {points.shape}")
    if normals is not None:
        normals = np.asarray(normals, dtype=np.float64)
        if normals.shape != points.shape:
            raise ValueError(f"normals must have the points' shape {points.shape}; got {normals.shape}")
    if table_height is not None:
        above = points[:, 2] > table_height + TABLE_CROP
        points = points[above]
        normals = normals[above] if normals is not None else None
    if len(points) == 0:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.float32)
    pcd = o3d.geometry.PointCloud(o3d.utility.Vector3dVector(points))
    if normals is not None:
        pcd.normals = o3d.utility.Vector3dVector(normals)
    if voxel_size > 0:
        pcd = pcd.voxel_down_sample(voxel_size)
    if normals is None:
        pcd.estimate_normals(search_param=o3d.geometry.KDTreeSearchParamHybrid(radius=0.04, max_nn=30))
        if viewpoint is None:
            pcd.orient_normals_to_align_with_direction(np.array([0.0, 0.0, 1.0]))
        else:
            pcd.orient_normals_towards_camera_location(np.asarray(viewpoint, dtype=np.float64).reshape(3))
    out_points = np.asarray(pcd.points, dtype=np.float32)
    out_normals = np.asarray(pcd.normals, dtype=np.float64)
    norm = np.linalg.norm(out_normals, axis=1, keepdims=True)
    # averaged normals of a thin voxel can cancel out; such points get +z rather than NaN
    out_normals = np.where(norm > 1e-6, out_normals / np.maximum(norm, 1e-12), np.array([0.0, 0.0, 1.0]))
    return out_points, out_normals.astype(np.float32)


def _frames(p_a: torch.Tensor, p_c: torch.Tensor, n_c: torch.Tensor,
            gripper: GripperGeometry) -> tuple[torch.Tensor, ...]:
    """Batched edge geometry: rotation (E,3,3), TCP (E,3), depth, half_baseline, |n_c × (p_a − p_c)|."""
    y = n_c / n_c.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    d = p_a - p_c
    cross = torch.cross(y, d, dim=-1)
    cross_norm = cross.norm(dim=-1)
    z = torch.cross(y, cross, dim=-1)
    z = z / z.norm(dim=-1, keepdim=True).clamp_min(_EPS)
    x = torch.cross(y, z, dim=-1)
    rot = torch.stack([x, y, z], dim=-1)  # columns are the frame's axes
    depth = ((p_c - p_a) * z).sum(-1)
    half_baseline = ((p_c - p_a) * y).sum(-1)
    tcp = p_a + (depth + gripper.tip_margin).unsqueeze(-1) * z
    return rot, tcp, depth, half_baseline, cross_norm


def _pose_matrix(rot: torch.Tensor, tcp: torch.Tensor) -> torch.Tensor:
    pose = torch.zeros(*rot.shape[:-2], 4, 4, dtype=rot.dtype, device=rot.device)
    pose[..., :3, :3] = rot
    pose[..., :3, 3] = tcp
    pose[..., 3, 3] = 1.0
    return pose


def _width(half_baseline: torch.Tensor, gripper: GripperGeometry) -> torch.Tensor:
    # 1 cm of slack around the contact's mirror image: the opening the hand needs before closing
    return (2.0 * half_baseline.abs() + 0.01).clamp(0.0, gripper.max_width)


def grasp_pose_from_edge(p_a, p_c, n_c, gripper: GripperGeometry = FRANKA_HAND) -> tuple[np.ndarray, float]:
    """The grasp pose and opening of one edge.

    Args:
        p_a: approach point ``(3,)``.
        p_c: contact point ``(3,)``.
        n_c: contact surface normal ``(3,)`` (need not be unit): the closing axis.
        gripper: hand geometry.

    Returns:
        ``(pose, width)``: a float64 4×4 pose and the opening (m).

    Raises:
        ValueError: when the edge is degenerate (``p_a − p_c`` parallel to ``n_c``, or a zero normal).
    """
    p_a, p_c, n_c = (torch.as_tensor(np.asarray(v, dtype=np.float64).reshape(3)) for v in (p_a, p_c, n_c))
    if float(n_c.norm()) < 1e-9:
        raise ValueError("grasp_pose_from_edge: the contact normal is zero")
    rot, tcp, _, half_baseline, cross_norm = _frames(p_a[None], p_c[None], n_c[None], gripper)
    if float(cross_norm[0]) < 1e-9:
        raise ValueError("grasp_pose_from_edge: degenerate edge (p_a - p_c is parallel to the contact normal)")
    return _pose_matrix(rot, tcp)[0].numpy(), float(_width(half_baseline, gripper)[0])


def _table_collision(rot: torch.Tensor, tcp: torch.Tensor, table_height: float, g: GripperGeometry) -> torch.Tensor:
    """True where a fingertip or a palm corner of the open hand comes within TABLE_MARGIN of the table."""
    half_open = g.max_width / 2 + g.finger_thickness
    corners = []
    for sy in (-1.0, 1.0):
        for sx in (-1.0, 0.0, 1.0):  # fingertip corners and centre
            corners.append((sx * g.finger_width / 2, sy * half_open, 0.0))
        for sx in (-1.0, 1.0):
            for z in (-g.finger_depth, -g.finger_depth - g.palm_height):
                corners.append((sx * g.palm_half_depth, sy * g.palm_half_width, z))
    local = torch.tensor(corners, dtype=rot.dtype, device=rot.device)  # (K, 3)
    world_z = torch.einsum("kj,ej->ek", local, rot[:, 2, :]) + tcp[:, 2:3]
    return (world_z < table_height + TABLE_MARGIN).any(-1)


def grasp_frame_coordinates(points: torch.Tensor, rot: torch.Tensor, tcp: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """Coordinates ``(x, y, z)``, each ``(E, N)``, of every point in every grasp frame (three matmuls)."""
    out = []
    for axis in range(3):
        a = rot[:, :, axis]  # (E, 3)
        out.append(a @ points.T - (a * tcp).sum(-1, keepdim=True))
    return tuple(out)


def cloud_collision(points: torch.Tensor, rot: torch.Tensor, tcp: torch.Tensor, gripper: GripperGeometry = FRANKA_HAND,
                    tolerance: float = COLLISION_TOLERANCE, chunk_elements: int = 4_000_000,
                    sweep: float = 0.0) -> torch.Tensor:
    """True for each pose whose open hand (fingers at ``max_width``, palm) contains a cloud point.

    The hand is three boxes in the grasp frame: two fingers (``|x| < finger_width/2``,
    ``max_width/2 < |y| < max_width/2 + finger_thickness``, ``-finger_depth < z < 0``) and the palm
    (``|x| < palm_half_depth``, ``|y| < palm_half_width``, ``z < -finger_depth``, ``palm_height`` deep).
    Points between the open fingers are free space for the grasp; points less than ``tolerance``
    inside a box are forgiven (sensor noise, contacts on the pads' plane).

    Args:
        points: ``(N, 3)`` cloud.
        rot: ``(E, 3, 3)`` grasp rotations (columns x, y, z).
        tcp: ``(E, 3)`` TCP positions.
        gripper: hand geometry.
        tolerance: forgiven penetration depth (m).
        chunk_elements: bound on ``E_chunk × N`` per step (memory).
        sweep: also the volume the hand sweeps on its way in, from ``sweep`` metres back along the
            approach axis (the fingers' and the palm's boxes reach that much further back).

    Returns:
        ``(E,)`` bool.
    """
    g, tol = gripper, tolerance
    w = g.max_width / 2
    out = torch.zeros(rot.shape[0], dtype=torch.bool, device=points.device)
    step = max(1, chunk_elements // max(1, points.shape[0]))
    for s in range(0, rot.shape[0], step):
        x, y, z = grasp_frame_coordinates(points, rot[s:s + step], tcp[s:s + step])
        ax, ay = x.abs(), y.abs()
        fingers = ((ax < g.finger_width / 2 - tol) & (ay > w + tol) & (ay < w + g.finger_thickness - tol)
                   & (z > -g.finger_depth - sweep + tol) & (z < -tol))
        palm = ((ax < g.palm_half_depth - tol) & (ay < g.palm_half_width - tol) & (z < -g.finger_depth - tol)
                & (z > -g.finger_depth - g.palm_height - sweep + tol))
        out[s:s + step] = (fingers | palm).any(-1)
    return out


def _frame_ok(frames: tuple[torch.Tensor, ...], dist: torch.Tensor, table_height: float | None,
              gripper: GripperGeometry) -> torch.Tensor:
    """The geometric filters of :func:`sample_edges` on batched frames (see there)."""
    rot, tcp, depth, half_baseline, cross_norm = frames
    keep = cross_norm > 1e-6 * dist.clamp_min(_EPS)  # not parallel: the approach axis is defined
    keep &= rot[:, 2, 2] <= 0.0  # a_z > 0 approaches from below the object
    keep &= (half_baseline > -0.003) & (half_baseline < gripper.max_width / 2 - 0.002)
    # The approach point lies on the hand's centre line, finger_depth − (depth + tip_margin) in front of
    # the palm face: deeper contacts put p_a itself inside the palm. Exactly the cloud check for p_a,
    # done first because it is free.
    keep &= (depth > -0.003) & (depth <= gripper.finger_depth - gripper.tip_margin - PALM_CLEARANCE)
    if table_height is not None:
        keep &= ~_table_collision(rot, tcp, float(table_height), gripper)
    return keep


def _rim_directions(points: torch.Tensor, normals: torch.Tensor) -> torch.Tensor:
    """Outward horizontal unit directions of the points on the rim of an upward-facing surface
    (zero elsewhere): the direction away from the centroid of the neighbours within RIM_RADIUS."""
    idx, ball = ball_query(points, points, RIM_RADIUS, 64)
    weight = ball.to(points.dtype).unsqueeze(-1)
    centroid = (points[idx] * weight).sum(1) / weight.sum(1).clamp_min(1.0)
    out = points - centroid
    out[:, 2] = 0.0
    norm = out.norm(dim=-1, keepdim=True)
    rim = (norm.squeeze(-1) > RIM_OFFSET * RIM_RADIUS) & (normals[:, 2] > RIM_MIN_NZ)
    return torch.where(rim.unsqueeze(-1), out / norm.clamp_min(_EPS), torch.zeros_like(out))


def _top_down_frames(p_a: torch.Tensor, p_c: torch.Tensor, y: torch.Tensor, table_height: float,
                     gripper: GripperGeometry) -> tuple[torch.Tensor, ...]:
    """Frames approaching straight down with closing axis ``y`` (horizontal), the hand's centre line
    through ``p_a`` and the fingertips as low as the table allows: a flat object's rim is gripped
    along its whole height. ``depth`` counts as in :func:`_frames` (contact to fingertips:
    ``tip_margin``), and the last entry is the contact's distance from the fingers' mid-plane."""
    z = torch.tensor([0.0, 0.0, -1.0], dtype=p_a.dtype, device=p_a.device).expand_as(p_a)
    x = torch.cross(y, z, dim=-1)
    rot = torch.stack([x, y, z], dim=-1)
    tcp = p_a.clone()
    tcp[:, 2] = table_height + TABLE_MARGIN + 0.001
    depth = p_a[:, 2] - tcp[:, 2] - gripper.tip_margin
    half_baseline = ((p_c - p_a) * y).sum(-1)
    off_plane = ((p_c - p_a) * x).sum(-1).abs()
    return rot, tcp, depth, half_baseline, off_plane


def _replace(frames: tuple[torch.Tensor, ...], keep: torch.Tensor, rows: torch.Tensor, alt: tuple[torch.Tensor, ...],
             ok: torch.Tensor) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """``frames`` and ``keep`` with the edges ``rows[ok]`` given the alternative frames ``alt[ok]``."""
    frames = tuple(f.clone() for f in frames)
    for f, g in zip(frames, alt):
        f[rows[ok]] = g[ok]
    keep = keep.clone()
    keep[rows[ok]] = True
    return frames, keep


def _retry_levelled(points: torch.Tensor, normals: torch.Tensor, a_rows: torch.Tensor, c_rows: torch.Tensor,
                    dist: torch.Tensor, frames: tuple[torch.Tensor, ...], keep: torch.Tensor, table_height: float,
                    gripper: GripperGeometry) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """Retry pruned edges whose contact normal lies within LEVEL_TILT of horizontal with it levelled.

    A flat object shows only a thin band of side above the table crop, and PCA over the band and the
    top face tilts the band's normals upwards: a closing axis tilted so dips the far fingertip into
    the table, where the object's real side is vertical."""
    n_c = normals[c_rows]
    levelled = n_c.clone()
    levelled[:, 2] = 0.0
    tilted = (n_c[:, 2].abs() < math.sin(math.radians(LEVEL_TILT))) & (levelled.norm(dim=-1) > 1e-6)
    rows = (~keep & tilted).nonzero().squeeze(1)
    if rows.numel() == 0:
        return frames, keep
    alt = _frames(points[a_rows[rows]], points[c_rows[rows]], levelled[rows], gripper)
    return _replace(frames, keep, rows, alt, _frame_ok(alt, dist[rows], table_height, gripper))


def _retry_rims(points: torch.Tensor, normals: torch.Tensor, a_rows: torch.Tensor, c_rows: torch.Tensor,
                dist: torch.Tensor, frames: tuple[torch.Tensor, ...], keep: torch.Tensor, table_height: float,
                gripper: GripperGeometry) -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """Retry pruned edges whose contact lies on the rim of an upward-facing surface as top-down grasps
    closing along the rim's outward direction (:func:`_top_down_frames`).

    Where no side of a flat object is seen at all, every normal points up and Edge Grasp's
    construction has no closing axis to offer."""
    rim = _rim_directions(points, normals)[c_rows]
    rows = (~keep & (rim.norm(dim=-1) > 0.5)).nonzero().squeeze(1)
    if rows.numel() == 0:
        return frames, keep
    rot, tcp, depth, half_baseline, off_plane = _top_down_frames(points[a_rows[rows]], points[c_rows[rows]], rim[rows],
                                                                 table_height, gripper)
    alt = (rot, tcp, depth, half_baseline, torch.ones_like(depth))
    ok = _frame_ok(alt, dist[rows], table_height, gripper)
    ok &= off_plane < gripper.finger_width / 2 - 0.003  # the contact lies between the finger pads
    return _replace(frames, keep, rows, alt, ok)


def column_points(points: torch.Tensor, normals: torch.Tensor, table_height: float, *, spacing: float = 0.005,
                  min_normal_z: float = 0.3) -> torch.Tensor:
    """Points filling the space under every upward-facing point down to the table, ``spacing`` apart.

    A single view sees an object's top and the faces towards the camera, not its inside: a finger
    under a seen top face is inside the object (or under an overhang it cannot reach), but the cloud
    alone lets it through."""
    up = normals[:, 2] > min_normal_z
    tops = points[up]
    depth = (tops[:, 2] - table_height).clamp_min(0.0)
    levels = int(torch.ceil(depth.max() / spacing).item()) if len(tops) else 0
    if levels == 0:
        return points.new_zeros((0, 3))
    steps = torch.arange(1, levels + 1, dtype=points.dtype, device=points.device) * spacing  # (L,)
    below = tops.unsqueeze(1).repeat(1, levels, 1)
    below[:, :, 2] -= steps
    keep = steps.unsqueeze(0) < depth.unsqueeze(1)
    return below[keep]


def shadow_points(points: torch.Tensor, viewpoint: torch.Tensor | np.ndarray, length: float, *, spacing: float = 0.005,
                  table_height: float | None = None) -> torch.Tensor:
    """Points filling the first ``length`` metres behind every seen point, away from the camera, ``spacing`` apart.

    One view sees the surfaces that face the camera; right behind them the object goes on, unseen. The far
    finger of a grasp across an object whose far side bulges out of sight ends there: the approach stops on
    the hidden side and the hand closes on nothing. Points below the table plane (when given) are dropped."""
    ray = view_rays(points, viewpoint)
    levels = int(math.floor(length / spacing + 1e-9))
    if levels == 0 or len(points) == 0:
        return points.new_zeros((0, 3))
    steps = torch.arange(1, levels + 1, dtype=points.dtype, device=points.device) * spacing
    behind = (points.unsqueeze(1) + steps.view(1, -1, 1) * ray.unsqueeze(1)).reshape(-1, 3)
    if table_height is not None:
        behind = behind[behind[:, 2] > table_height]
    return behind


def beyond_crop_points(points: torch.Tensor, crop_box, table_height: float, *, touch: float = 0.005,
                       reach: float = 0.04, spacing: float = 0.005) -> torch.Tensor:
    """Points filling the space just outside the x–y crop box where seen points touch its walls.

    A cloud cropped to the workspace loses the parts of objects that stick out of it; seen points within
    ``touch`` of a wall say an object goes on beyond it. Beyond each such place, ``reach`` out from the wall
    and from the point's height down to the table, the space counts as occupied (``spacing`` apart, on a
    grid along the wall so that a dense edge costs no more than a sparse one).

    Args:
        points: ``(N, 3)`` cloud.
        crop_box: ``(x_min, y_min, x_max, y_max)`` the cloud was cropped to.
        table_height: z of the table plane (the fill stops there).
    """
    x_min, y_min, x_max, y_max = (float(v) for v in crop_box)
    out = []
    for axis, wall, sign in ((0, x_min, -1.0), (0, x_max, 1.0), (1, y_min, -1.0), (1, y_max, 1.0)):
        near = points[(points[:, axis] - wall).abs() < touch]
        if len(near) == 0:
            continue
        along = 1 - axis
        # the highest seen point per cell of the wall: the fill runs from there down to the table
        cells = torch.round(near[:, along] / spacing).long()
        cells, inverse = torch.unique(cells, return_inverse=True)
        tops = torch.full((len(cells),), -math.inf, dtype=points.dtype, device=points.device)
        tops = tops.scatter_reduce(0, inverse, near[:, 2], reduce="amax")
        heights = torch.arange(0, float(tops.max() - table_height) + spacing, spacing, dtype=points.dtype,
                               device=points.device) + table_height + spacing / 2
        outward = torch.arange(1, int(round(reach / spacing)) + 1, dtype=points.dtype, device=points.device) * spacing
        c, zi, oi = torch.meshgrid(*(torch.arange(n, device=points.device) for n in (len(cells), len(heights), len(outward))),
                                   indexing="ij")
        z, o = heights[zi], outward[oi]
        keep = z <= tops[c]
        grid = torch.zeros(int(keep.sum()), 3, dtype=points.dtype, device=points.device)
        grid[:, along] = cells[c[keep]].to(points.dtype) * spacing
        grid[:, axis] = wall + sign * o[keep]
        grid[:, 2] = z[keep]
        out.append(grid)
    return torch.cat(out) if out else points.new_zeros((0, 3))


def _collision_free(points: torch.Tensor, idx: torch.Tensor, ball_mask: torch.Tensor, ball_of: torch.Tensor,
                    sel: torch.Tensor, frames: tuple[torch.Tensor, ...], gripper: GripperGeometry,
                    filled: torch.Tensor | None = None, sweep: float = 0.0) -> torch.Tensor:
    """The edges of ``sel`` whose open hand is free of the cloud.

    Most candidates that collide do so with the surface around their approach point (a finger through
    the object): check against the approach ball first, which is cheap, then the survivors against
    the whole cloud. The result is exactly the whole-cloud check."""
    rot, tcp = frames[0], frames[1]
    local_free = torch.ones(sel.numel(), dtype=torch.bool, device=points.device)
    for b in torch.unique(ball_of[sel]).tolist():
        in_ball = (ball_of[sel] == b).nonzero().squeeze(1)
        local = points[idx[b][ball_mask[b]]]
        local_free[in_ball] = ~cloud_collision(local, rot[sel[in_ball]], tcp[sel[in_ball]], gripper, sweep=sweep)
    sel = sel[local_free]
    if sel.numel():
        sel = sel[~cloud_collision(points, rot[sel], tcp[sel], gripper, sweep=sweep)]
    if sel.numel() and filled is not None and len(filled):
        sel = sel[~cloud_collision(filled, rot[sel], tcp[sel], gripper, sweep=sweep)]
    return sel

def sample_edges(points: torch.Tensor | np.ndarray, normals: torch.Tensor | np.ndarray, *, num_approach: int = 32,
                 radius: float = 0.05, min_dist: float = 0.003, max_dist: float = 0.038, max_edges: int = 4000,
                 table_height: float | None = None, generator: torch.Generator | None = None,
                 gripper: GripperGeometry = FRANKA_HAND, flat_grasps: bool = True,
                 fill_columns: bool = True, clear_approach: bool = False, deepen: float = 0.0,
                 all_depths: bool = False, viewpoint: np.ndarray | torch.Tensor | None = None,
                 fill_shadows: float = 0.0, crop_box: tuple[float, float, float, float] | None = None) -> EdgeSet:
    """Sample and prune candidate edge grasps of a preprocessed cloud (Huang et al. 2023).

    Approach points by farthest-point sampling; contacts in a ball of ``radius`` around each, at a
    distance in ``(min_dist, max_dist)``. Dropped: degenerate edges, grasps approaching from below
    (``a_z > 0``), a contact offset outside ``(−3 mm, max_width/2 − 2 mm)``, hands that would touch
    the table plane ``z = table_height`` (when given), and open hands that collide with the cloud.
    The rest is capped at ``max_edges`` by uniform random subsampling.

    ``flat_grasps`` (our extension, with a table only) rescues flat objects, whose sides the table
    crop all but removes: an edge pruned with a contact normal within ``LEVEL_TILT`` of horizontal is
    retried with the normal levelled (:func:`_retry_levelled`), and when no candidate at all is left,
    contacts on the rim of an upward-facing surface are retried as top-down grasps closing along the
    rim's outward direction (:func:`_retry_rims`). Off: Edge Grasp's construction alone.

    Args:
        points: ``(N, 3)`` cloud, e.g. from :func:`preprocess_cloud` (the table may be in it).
        normals: ``(N, 3)`` unit outward normals.
        num_approach: approach points (fewer when the cloud is smaller).
        radius: contact ball radius (m).
        min_dist: minimum approach–contact distance (m).
        max_dist: maximum approach–contact distance (m).
        max_edges: cap on the returned edges.
        table_height: z of the table plane in the cloud's frame; ``None`` skips the table check.
        generator: randomness of FPS's first point and of the cap; ``None`` is deterministic
            (FPS from index 0, the first ``max_edges`` edges in order).
        gripper: hand geometry.
        flat_grasps: levelled and rim retries for flat objects (see above; needs ``table_height``).
        fill_columns: also prune open hands that reach under an upward-facing point (the space down to
            the table counts as occupied: :func:`column_points`; needs ``table_height``; our extension).
            A single view does not see an object's inside, and without it the far finger of many side
            grasps ends inside the object.
        clear_approach: also prune hands whose way in, from ``APPROACH_SWEEP`` back along the approach
            axis, meets the cloud (or the filled columns): such an approach stops on the contact and the
            hand closes short of its grasp (our extension).
        deepen: push each kept hand up to this much further along its approach (m), to the deepest of
            ``deepen, deepen − DEEPEN_STEP, …`` that passes every check above (:func:`_deepest_fit`; our
            extension). 0: every hand's fingertips reach ``gripper.tip_margin`` past its contact.
        all_depths: with ``deepen``, return every depth that fits instead of the deepest: each edge once
            per extra depth ``0, DEEPEN_STEP, …, deepen`` that passes (for a net that scores depths, and
            for labelling them), in edge order and, within an edge, shallowest first. ``max_edges``
            caps the edges before they are repeated.
        viewpoint: the camera position (needed by ``fill_shadows``).
        fill_shadows: also prune open hands that reach into the first ``fill_shadows`` metres behind a
            seen point, away from the camera (:func:`shadow_points`; our extension; 0: off). There the
            seen surface's object most likely goes on.
        crop_box: ``(x_min, y_min, x_max, y_max)`` the cloud was cropped to (with a ``table_height``): also
            prune open hands that reach past a wall where seen points touch it, into the part of an object the
            crop cut off (:func:`beyond_crop_points`; our extension; ``None``: off).

    Returns:
        An :class:`EdgeSet` (empty when nothing survives).
    """
    points = torch.as_tensor(points)
    normals = torch.as_tensor(normals, dtype=points.dtype).to(points.device)
    if not points.is_floating_point():
        points = points.float()
        normals = normals.float()
    if points.dim() != 2 or points.shape[1] != 3 or normals.shape != points.shape:
        raise ValueError(f"points and normals must both be (N, 3); got {tuple(points.shape)} and {tuple(normals.shape)}")
    check_deepen(deepen, gripper)
    check_fill_shadows(fill_shadows, viewpoint)
    check_crop_box(crop_box)
    n = points.shape[0]
    if n < 2 or num_approach < 1:
        return EdgeSet.empty(points.device, points.dtype)
    approach_idx = farthest_point_sample(points, min(num_approach, n), generator=generator)
    idx, ball_mask = ball_query(points[approach_idx], points, radius, min(MAX_BALL_POINTS, n))
    dist = (points[idx] - points[approach_idx].unsqueeze(1)).norm(dim=-1)
    mask = ball_mask & (dist > min_dist) & (dist < max_dist)
    ball_of = torch.arange(len(approach_idx), device=points.device).unsqueeze(1).expand_as(idx)[mask]
    a_rows = approach_idx.unsqueeze(1).expand_as(idx)[mask]
    c_rows = idx[mask]
    if a_rows.numel() == 0:
        return EdgeSet.empty(points.device, points.dtype)
    dist = dist[mask]
    table = None if table_height is None else float(table_height)
    frames = _frames(points[a_rows], points[c_rows], normals[c_rows], gripper)
    keep = _frame_ok(frames, dist, table, gripper)
    if table is not None and flat_grasps:
        frames, keep = _retry_levelled(points, normals, a_rows, c_rows, dist, frames, keep, table, gripper)
    # space the cloud does not show but that most likely holds an object, checked like the cloud itself
    fills = []
    if table is not None and fill_columns:
        fills.append(column_points(points, normals, table))
    if fill_shadows > 0:
        fills.append(shadow_points(points, viewpoint, fill_shadows, table_height=table))
    if crop_box is not None and table is not None:
        fills.append(beyond_crop_points(points, crop_box, table))
    filled = torch.cat(fills) if fills else None
    sweep = APPROACH_SWEEP if clear_approach else 0.0
    sel = _collision_free(points, idx, ball_mask, ball_of, keep.nonzero().squeeze(1), frames, gripper, filled, sweep)
    if table is not None and flat_grasps and sel.numel() == 0:
        # nothing left: the cloud may be flat objects whose sides are cropped with the table
        # (every edge kept so far collided: only the rim edges need the collision checks)
        frames, rims = _retry_rims(points, normals, a_rows, c_rows, dist, frames, keep, table, gripper)
        sel = _collision_free(points, idx, ball_mask, ball_of, (rims & ~keep).nonzero().squeeze(1), frames, gripper,
                              filled, sweep)
    rot, tcp, depth, half_baseline, _ = frames
    if sel.numel() > max_edges:
        if generator is None:
            sel = sel[:max_edges]
        else:
            perm = torch.randperm(sel.numel(), generator=generator, device=generator.device).to(sel.device)
            sel = sel[perm[:max_edges].sort().values]
    extra = torch.zeros(sel.numel(), dtype=points.dtype, device=points.device)
    if deepen > 0 and sel.numel():
        checks = (points, idx, ball_mask, ball_of, frames, filled, table, gripper, sweep)
        if all_depths:
            rows, extra = _all_depths(sel, deepen, *checks)
            sel = sel[rows]
        else:
            extra = _deepest_fit(sel, deepen, *checks)
    edges = torch.stack([a_rows[sel], c_rows[sel]], dim=1)
    tcp = tcp[sel] + extra.unsqueeze(-1) * rot[sel, :, 2]
    return EdgeSet(approach_idx, edges, _pose_matrix(rot[sel], tcp), _width(half_baseline[sel], gripper), depth[sel],
                   half_baseline[sel], extra)


def depth_levels(deepen: float) -> list[float]:
    """The extra depths ``sample_edges(deepen=...)`` tries: ``0, DEEPEN_STEP, …`` up to ``deepen``."""
    levels = int(round(deepen / DEEPEN_STEP + 1e-9))
    return [0.0] + [deepen - i * DEEPEN_STEP for i in reversed(range(levels))] if levels else [0.0, deepen]


def check_deepen(deepen: float, gripper: GripperGeometry = FRANKA_HAND) -> None:
    """Refuse an extra depth (``sample_edges(deepen=...)``) outside the fingers' reach."""
    if not 0.0 <= deepen <= gripper.finger_depth:
        raise ValueError(f"deepen must lie in [0, {gripper.finger_depth}] (metres of extra depth, e.g. 0.016); "
                         f"got {deepen}")


def check_fill_shadows(fill_shadows: float, viewpoint) -> None:
    """Refuse a shadow length (``sample_edges(fill_shadows=...)``) that is negative, absurd or has no camera."""
    if not 0.0 <= fill_shadows <= MAX_SHADOW:
        raise ValueError(f"fill_shadows must lie in [0, {MAX_SHADOW}] (metres behind each seen point, e.g. 0.02); "
                         f"got {fill_shadows}")
    if fill_shadows == 0:
        return
    if viewpoint is None:
        raise ValueError("fill_shadows needs the camera position (viewpoint=...): the shadows lie away from it")
    camera_position(viewpoint, torch.zeros(0, dtype=torch.float64))


def check_crop_box(crop_box) -> None:
    """Refuse a crop box (``sample_edges(crop_box=...)``) that is not four finite numbers with min < max."""
    if crop_box is None:
        return
    box = np.asarray(crop_box, dtype=np.float64).reshape(-1) if np.ndim(crop_box) else np.zeros(0)
    if box.size != 4 or not np.isfinite(box).all() or not (box[0] < box[2] and box[1] < box[3]):
        raise ValueError(f"crop_box must be (x_min, y_min, x_max, y_max) with min < max, finite; got {crop_box!r}")


def _fits(sel: torch.Tensor, extra: float, points: torch.Tensor, idx: torch.Tensor, ball_mask: torch.Tensor,
          ball_of: torch.Tensor, frames: tuple[torch.Tensor, ...], filled: torch.Tensor | None,
          table_height: float | None, gripper: GripperGeometry, sweep: float) -> torch.Tensor:
    """Whether each hand of ``sel``, pushed ``extra`` further along its approach, keeps the approach point
    clear of the palm and the hand clear of the table, the cloud and ``filled`` (the checks of
    :func:`sample_edges`, the cloud's ball first as in :func:`_collision_free`)."""
    rot, tcp, depth = frames[0], frames[1], frames[2]
    shifted = tcp + extra * rot[:, :, 2]
    ok = depth[sel] + gripper.tip_margin + extra <= gripper.finger_depth - PALM_CLEARANCE
    if table_height is not None:
        ok &= ~_table_collision(rot[sel], shifted[sel], table_height, gripper)
    free = _collision_free(points, idx, ball_mask, ball_of, sel[ok], (rot, shifted), gripper, filled, sweep)
    return torch.isin(sel, free)


def _deepest_fit(sel: torch.Tensor, deepen: float, *checks) -> torch.Tensor:
    """Each hand's deepest extra of ``depth_levels(deepen)`` that :func:`_fits` (0 when none does);
    ``checks``: the arguments of :func:`_fits` after ``extra``.

    One fixed depth does not suit every grasp: fingertips 4 mm past the contact hold a thin rim but
    let a round object slip out, and deeper fingertips fit only where there is room (the fixed 20 mm
    hand lost whole rounds to pruning)."""
    out = torch.zeros(sel.numel(), dtype=checks[0].dtype, device=sel.device)
    todo = torch.ones(sel.numel(), dtype=torch.bool, device=sel.device)
    for extra in reversed(depth_levels(deepen)[1:]):
        rows = todo.nonzero().squeeze(1)
        if rows.numel() == 0:
            break
        ok = _fits(sel[rows], extra, *checks)
        out[rows[ok]] = extra
        todo[rows[ok]] = False
    return out


def _all_depths(sel: torch.Tensor, deepen: float, *checks) -> tuple[torch.Tensor, torch.Tensor]:
    """Every (hand, extra) of ``depth_levels(deepen)`` that :func:`_fits`, as rows of ``sel`` and extras,
    by hand and then shallowest first (extra 0 always fits: the hand passed the checks as it is)."""
    levels = depth_levels(deepen)
    fit = torch.ones(sel.numel(), len(levels), dtype=torch.bool, device=sel.device)
    for j, extra in enumerate(levels[1:], start=1):
        fit[:, j] = _fits(sel, extra, *checks)
    rows, cols = fit.nonzero(as_tuple=True)  # row-major: by hand, then by level
    return rows, torch.tensor(levels, dtype=checks[0].dtype, device=sel.device)[cols]
