"""Synthetic point clouds with exact normals (boxes on a table), for tests, examples and smoke training."""

from __future__ import annotations

import numpy as np


def _grid(u0: float, u1: float, v0: float, v1: float, spacing: float) -> np.ndarray:
    u = np.arange(u0, u1 + 1e-9, spacing)
    v = np.arange(v0, v1 + 1e-9, spacing)
    return np.stack(np.meshgrid(u, v, indexing="ij"), -1).reshape(-1, 2)


def box_cloud(size: tuple[float, float, float] = (0.05, 0.04, 0.06), spacing: float = 0.003, *,
              centre: tuple[float, float] = (0.0, 0.0), yaw: float = 0.0, table_half_extent: float = 0.0,
              sides: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Surface points and outward normals of an axis-aligned box standing on the table ``z = 0``.

    Args:
        size: box extent ``(x, y, z)`` (m) before the yaw.
        spacing: grid spacing of the surface samples (m).
        centre: box centre on the table ``(x, y)``.
        yaw: rotation about +z (rad).
        table_half_extent: when > 0, also the table square ``|x|, |y| <= table_half_extent`` around
            the box (normals +z), outside the box's footprint.
        sides: include the four side faces (a camera straight above sees only the top).

    Returns:
        ``(points, normals)``, float64 ``(N, 3)``.
    """
    sx, sy, sz = size
    pts, nrm = [], []
    g = _grid(-sx / 2, sx / 2, -sy / 2, sy / 2, spacing)
    pts.append(np.c_[g, np.full(len(g), sz)])
    nrm.append(np.tile([0.0, 0.0, 1.0], (len(g), 1)))
    if sides:
        for s in (-1.0, 1.0):
            g = _grid(-sx / 2, sx / 2, spacing, sz - spacing, spacing)
            pts.append(np.c_[g[:, 0], np.full(len(g), s * sy / 2), g[:, 1]])
            nrm.append(np.tile([0.0, s, 0.0], (len(g), 1)))
            g = _grid(-sy / 2, sy / 2, spacing, sz - spacing, spacing)
            pts.append(np.c_[np.full(len(g), s * sx / 2), g[:, 0], g[:, 1]])
            nrm.append(np.tile([s, 0.0, 0.0], (len(g), 1)))
    points, normals = np.concatenate(pts), np.concatenate(nrm)
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
    points = points @ rot.T + np.array([centre[0], centre[1], 0.0])
    normals = normals @ rot.T
    if table_half_extent > 0:
        g = _grid(-table_half_extent, table_half_extent, -table_half_extent, table_half_extent, spacing)
        local = (g - np.asarray(centre)) @ rot[:2, :2]  # table points in the box's frame
        g = g[(np.abs(local[:, 0]) > sx / 2 + spacing / 2) | (np.abs(local[:, 1]) > sy / 2 + spacing / 2)]
        points = np.concatenate([points, np.c_[g, np.zeros(len(g))]])
        normals = np.concatenate([normals, np.tile([0.0, 0.0, 1.0], (len(g), 1))])
    return points, normals
