"""Cameras of the tabletop scene: gripper-centred and fixed top-down views, and the side view.

Top-down views are orthographic with image "up" = world +y and "right" = world +x (the convention
of :mod:`equimanip.symmetry`), so a world rotation is an image rotation. They are rendered without
the robot, whose fingers are painted in (the BulletArm convention): that keeps a render at ≈ 3 ms
instead of ≈ 18 ms. The side view is a perspective RGB-D camera with the robot in sight, where the
world's rotation symmetry is only latent.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from equimanip.envs.sim.base import Simulator

CAMERAS: tuple[str, ...] = ("gripper_topdown", "fixed_topdown", "side")
CORRUPTIONS: tuple[str, ...] = ("occluder", "lighting", "grid_floor", "mirror")

_RENDER_HEIGHT = 1.0  # top-down renders are taken from this height above the table
_ORTHO_NEAR, _ORTHO_FAR = 0.5, 1.5  # top-down views see from 0.5 m above the table to 0.5 m below
_NEAR, _FAR = 0.01, 2.5  # side view


def look_at(eye: np.ndarray, target: np.ndarray, up: np.ndarray) -> np.ndarray:
    """OpenGL view matrix (row-major 4×4)."""
    eye, target, up = (np.asarray(v, dtype=float) for v in (eye, target, up))
    f = target - eye
    f /= np.linalg.norm(f)
    s = np.cross(f, up)
    s /= np.linalg.norm(s)
    u = np.cross(s, f)
    view = np.eye(4)
    view[0, :3], view[1, :3], view[2, :3] = s, u, -f
    view[:3, 3] = -view[:3, :3] @ eye
    return view


def orthographic(half_width: float, half_height: float, near: float, far: float) -> np.ndarray:
    """OpenGL orthographic projection (row-major 4×4), symmetric about the view axis."""
    proj = np.eye(4)
    proj[0, 0] = 1.0 / half_width
    proj[1, 1] = 1.0 / half_height
    proj[2, 2] = -2.0 / (far - near)
    proj[2, 3] = -(far + near) / (far - near)
    return proj


def perspective(fov_deg: float, aspect: float, near: float, far: float) -> np.ndarray:
    """OpenGL perspective projection (row-major 4×4) with vertical field of view ``fov_deg``."""
    f = 1.0 / math.tan(math.radians(fov_deg) / 2.0)
    proj = np.zeros((4, 4))
    proj[0, 0] = f / aspect
    proj[1, 1] = f
    proj[2, 2] = (far + near) / (near - far)
    proj[2, 3] = 2.0 * far * near / (near - far)
    proj[3, 2] = -1.0
    return proj


def _sample_pixel_centres(projection: np.ndarray, size: int) -> np.ndarray:
    """Shift a projection by half a pixel so that TinyRenderer, which samples pixel corners,
    samples pixel centres: then a 90° scene rotation is an exact pixel permutation, and the
    painted fingers and :meth:`Camera.unproject` (which assume centres) line up with the render."""
    proj = projection.copy()
    if proj[3, 3] == 1.0:  # orthographic: x_ndc = p00 x + p03
        proj[0, 3] -= 1.0 / size
        proj[1, 3] -= 1.0 / size
    else:  # perspective: x_ndc = (p00 x + p02 z) / -z
        proj[0, 2] += 1.0 / size
        proj[1, 2] += 1.0 / size
    return proj


@dataclass(frozen=True)
class CameraSpec:
    """Where a camera is and what it sees.

    Attributes:
        name: one of :data:`CAMERAS`.
        size: image height and width in pixels.
        view_size: side of the square (metres) seen by the top-down views.
        elevation_deg: side-camera elevation above the table (15-90°).
        distance: side-camera distance from the workspace centre (metres).
        fov_deg: side-camera vertical field of view.
        azimuth_deg: side-camera heading about the workspace centre (0: from +x, facing the robot).
        shadows: whether the side camera renders shadows.
        fixed_height: height of the fixed top-down camera plane above the table.
    """

    name: str = "gripper_topdown"
    size: int = 128
    view_size: float = 0.4
    elevation_deg: float = 50.2
    distance: float = 0.781
    fov_deg: float = 40.0
    fixed_height: float = 0.5
    azimuth_deg: float = 0.0
    shadows: bool = True

    def __post_init__(self) -> None:
        if self.name not in CAMERAS:
            raise ValueError(f"unknown camera {self.name!r}; accepted: {', '.join(CAMERAS)}")
        if int(self.size) != self.size or not 16 <= self.size <= 1024:
            raise ValueError(f"image size must be an integer in [16, 1024], got {self.size!r}")
        if not 15.0 <= float(self.elevation_deg) <= 90.0:
            raise ValueError(f"side camera elevation must be within 15-90 degrees, got {self.elevation_deg!r}")
        if not 0.05 <= float(self.view_size) <= 2.0:
            raise ValueError(f"view_size must be within 0.05-2.0 m, got {self.view_size!r}")

    @property
    def topdown(self) -> bool:
        return self.name != "side"

    @property
    def shows_robot(self) -> bool:
        return self.name == "side"


@dataclass
class CameraFrame:
    """One rendered frame: the observation depth (1×H×W), optional RGB (3×H×W) and the matrices
    needed to lift pixels back to world points."""

    depth: np.ndarray
    rgb: np.ndarray | None
    raw_depth: np.ndarray
    view: np.ndarray
    projection: np.ndarray
    orthographic: bool


class Camera:
    """Renders a :class:`CameraSpec` from a simulator, given the gripper's pose and opening."""

    FINGER_HALF_DEPTH = 0.011  # finger footprint along the jaw (metres, half)
    FINGER_HALF_THICK = 0.006  # finger footprint across the jaw (metres, half)
    HAND_HALF_LENGTH = 0.10  # Panda hand footprint along the closing axis (metres, half)
    HAND_HALF_WIDTH = 0.03  # and across it
    FINGER_LENGTH = 0.045  # fingertip plane to the bottom of the hand

    def __init__(self, spec: CameraSpec, workspace_centre: tuple[float, float]):
        self.spec = spec
        self.centre = np.array(workspace_centre, dtype=float)
        s = spec.size
        # pixel centres in the image plane, symmetric about the image centre
        offsets = (np.arange(s) - (s - 1) / 2.0) * (spec.view_size / s)
        self._px_x = offsets[None, :].repeat(s, 0)  # +x to the right
        self._px_y = -offsets[:, None].repeat(s, 1)  # +y up
        self._view, self._projection, self._anchor = self._fixed_matrices()

    # -- matrices -----------------------------------------------------------------------------
    def matrices(self, gripper_xy: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """View matrix, projection matrix and the camera's image-centre xy (top-down) or eye."""
        if self.spec.name == "gripper_topdown":  # the only camera that moves
            cxy = np.asarray(gripper_xy, float)
            eye = np.array([cxy[0], cxy[1], _RENDER_HEIGHT])
            return look_at(eye, eye - np.array([0, 0, 1.0]), np.array([0.0, 1.0, 0.0])), self._projection, cxy
        return self._view, self._projection, self._anchor

    def _fixed_matrices(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        spec = self.spec
        if spec.topdown:
            half = spec.view_size / 2.0
            eye = np.array([self.centre[0], self.centre[1], _RENDER_HEIGHT])
            view = look_at(eye, eye - np.array([0, 0, 1.0]), np.array([0.0, 1.0, 0.0]))
            return view, _sample_pixel_centres(orthographic(half, half, _ORTHO_NEAR, _ORTHO_FAR), spec.size), self.centre
        el, az = math.radians(spec.elevation_deg), math.radians(spec.azimuth_deg)
        target = np.array([self.centre[0], self.centre[1], 0.0])
        eye = target + spec.distance * np.array([math.cos(el) * math.cos(az), math.cos(el) * math.sin(az), math.sin(el)])
        up = np.array([-math.sin(el) * math.cos(az), -math.sin(el) * math.sin(az), math.cos(el)])
        return look_at(eye, target, up), _sample_pixel_centres(perspective(spec.fov_deg, 1.0, _NEAR, _FAR), spec.size), eye

    # -- rendering ----------------------------------------------------------------------------
    def render(self, sim: Simulator, gripper_pos: np.ndarray, gripper_yaw: float, finger_width: float, *,
               rgb: bool = False, light_direction: np.ndarray | None = None, specular: float | None = None,
               mirror: bool = False) -> CameraFrame:
        spec = self.spec
        view, proj, cxy = self.matrices(gripper_pos[:2])
        out = sim.render(spec.size, spec.size, view, proj, rgb=rgb, light_direction=light_direction,
                         specular=specular, shadow=spec.shows_robot and spec.shadows)
        raw = out.depth
        if spec.topdown:
            plane = gripper_pos[2] if spec.name == "gripper_topdown" else spec.fixed_height
            # depth below the camera plane: the gripper tip plane, or the fixed camera height
            depth = raw - (_RENDER_HEIGHT - plane)
            depth = self._paint_fingers(depth, cxy, gripper_pos, gripper_yaw, finger_width,
                                        finger_depth=float(plane - gripper_pos[2]))
        else:
            depth = raw.copy()
        image = None if out.rgb is None else np.ascontiguousarray(out.rgb.transpose(2, 0, 1))
        if mirror:  # an *incorrect* symmetry: the image is flipped left-right
            depth = depth[:, ::-1]
            image = None if image is None else image[:, :, ::-1]
        return CameraFrame(depth=np.ascontiguousarray(depth[None], dtype=np.float32),
                           rgb=None if image is None else np.ascontiguousarray(image),
                           raw_depth=raw, view=view, projection=proj, orthographic=spec.topdown)

    def _paint_fingers(self, depth: np.ndarray, image_centre: np.ndarray, gripper_pos: np.ndarray, yaw: float,
                       width: float, finger_depth: float) -> np.ndarray:
        mask = self.finger_mask(image_centre, gripper_pos, yaw, width)
        out = depth.copy()
        out[mask] = np.minimum(out[mask], finger_depth)
        return out

    def _gripper_frame(self, image_centre: np.ndarray, gripper_pos: np.ndarray, yaw: float) -> tuple[np.ndarray, np.ndarray]:
        """Each pixel centre's offset from the gripper along its closing axis (across) and its jaw (along)."""
        dx = self._px_x + (image_centre[0] - gripper_pos[0])
        dy = self._px_y + (image_centre[1] - gripper_pos[1])
        across = -math.sin(yaw) * dx + math.cos(yaw) * dy
        along = math.cos(yaw) * dx + math.sin(yaw) * dy
        return across, along

    def finger_mask(self, image_centre: np.ndarray, gripper_pos: np.ndarray, yaw: float, width: float) -> np.ndarray:
        """Pixels (H×W bool) under the two fingertips of a gripper at ``gripper_pos``, ``yaw``, opening ``width``."""
        across, along = self._gripper_frame(image_centre, gripper_pos, yaw)
        offset = width / 2.0 + self.FINGER_HALF_THICK
        half = self.FINGER_HALF_THICK
        return (np.abs(along) <= self.FINGER_HALF_DEPTH) & ((np.abs(across - offset) <= half) | (np.abs(across + offset) <= half))

    def hand_mask(self, image_centre: np.ndarray, gripper_pos: np.ndarray, yaw: float) -> np.ndarray:
        """Pixels (H×W bool) under the Panda hand's body (above the fingers)."""
        across, along = self._gripper_frame(image_centre, gripper_pos, yaw)
        return (np.abs(across) <= self.HAND_HALF_LENGTH) & (np.abs(along) <= self.HAND_HALF_WIDTH)

    def surface_height(self, frame: CameraFrame) -> np.ndarray:
        """Height above the table (H×W, metres) of the surface each pixel of a top-down frame sees."""
        if not frame.orthographic:
            raise ValueError("surface heights need a top-down (orthographic) frame")
        return _RENDER_HEIGHT - frame.raw_depth

    # -- point clouds -------------------------------------------------------------------------
    def unproject(self, frame: CameraFrame, max_depth: float | None = None) -> np.ndarray:
        """World points (M×3) of every pixel that saw a surface (the sky is dropped)."""
        s = self.spec.size
        d = frame.raw_depth.astype(np.float64)
        far = _ORTHO_FAR if frame.orthographic else _FAR
        keep = d < (far - 1e-3 if max_depth is None else max_depth)
        cols, rows = np.meshgrid(np.arange(s), np.arange(s))
        x_ndc = (2.0 * (cols + 0.5) / s) - 1.0
        y_ndc = 1.0 - 2.0 * (rows + 0.5) / s
        p = frame.projection
        scale = np.ones_like(d) if frame.orthographic else d  # perspective rays widen with depth
        eye = np.stack([x_ndc * scale / p[0, 0], y_ndc * scale / p[1, 1], -d, np.ones_like(d)], axis=-1)[keep]
        world = eye @ np.linalg.inv(frame.view).T
        return world[:, :3].astype(np.float32)
