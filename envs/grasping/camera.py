"""The benchmark's depth camera: one view from a random point above the table, a depth-noise
model, and the point cloud cropped to the workspace (VGN / Edge Grasp protocol)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from equimanip.envs.cameras import look_at, perspective
from equimanip.envs.sim.base import Simulator

NEAR, FAR = 0.1, 2.0


@dataclass(frozen=True)
class DepthCamera:
    """A pinhole depth camera (defaults: VGN's 640×480, fx = 540, at half resolution).

    ``noise="dex"`` is VGN's model (after Dex-Net): one multiplicative Gamma(1000, 1/1000) factor for
    the whole image (≈ 3 % std: the scene seems nearer or farther) plus, on half of the images, a
    smooth Gaussian field (σ 5 mm, sampled every 4 pixels of a 640-wide image and upsampled);
    ``"none"`` renders exact depth.
    """

    width: int = 320
    height: int = 240
    fy: float = 270.0
    noise: str = "dex"
    gamma_shape: float = 1000.0
    gaussian_std: float = 0.005
    gaussian_rate: float = 0.5

    def __post_init__(self) -> None:
        if self.noise not in ("dex", "none"):
            raise ValueError(f"unknown depth noise {self.noise!r}; accepted: dex, none")

    @property
    def fov_deg(self) -> float:
        return float(np.degrees(2.0 * np.arctan(self.height / 2.0 / self.fy)))

    def projection(self) -> np.ndarray:
        return perspective(self.fov_deg, self.width / self.height, NEAR, FAR)

    def render_depth(self, sim: Simulator, eye: np.ndarray, target: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Exact metric depth (H×W, along the view axis) and the view matrix."""
        view = look_at(eye, target, np.array([0.0, 0.0, 1.0]))
        return sim.render(self.width, self.height, view, self.projection()).depth, view

    def add_noise(self, depth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        if self.noise == "none":
            return depth
        noisy = depth * rng.gamma(self.gamma_shape, 1.0 / self.gamma_shape)
        if rng.uniform() < self.gaussian_rate:
            cell = max(1, round(4 * self.width / 640))
            coarse = rng.normal(0.0, self.gaussian_std, size=(self.height // cell, self.width // cell))
            field = ndimage.zoom(coarse, (self.height / coarse.shape[0], self.width / coarse.shape[1]), order=1)
            noisy = noisy + field[: self.height, : self.width]
        return noisy.astype(np.float32)

    def unproject(self, depth: np.ndarray, view: np.ndarray) -> np.ndarray:
        """World points (M×3) of the pixels that saw a surface."""
        h, w = depth.shape
        d = depth.astype(np.float64)
        keep = np.isfinite(d) & (d < FAR - 1e-3) & (d > NEAR)
        cols, rows = np.meshgrid(np.arange(w), np.arange(h))
        # TinyRenderer samples pixel corners, not centres (see envs/cameras.py): the left and the
        # lower corner of each pixel, measured (tests/test_grasp_sim.py sees the box top to 0.3 mm)
        x_ndc = 2.0 * cols / w - 1.0
        y_ndc = 1.0 - 2.0 * (rows + 1) / h
        p = self.projection()
        eye = np.stack([x_ndc * d / p[0, 0], y_ndc * d / p[1, 1], -d, np.ones_like(d)], axis=-1)[keep]
        return (eye @ np.linalg.inv(view).T)[:, :3].astype(np.float32)


def random_viewpoint(rng: np.random.Generator, centre: np.ndarray, *, radius: float = 0.6,
                     polar: float = np.pi / 6) -> np.ndarray:
    """A camera position on the sphere about ``centre``: ``polar`` from the vertical, random azimuth
    (VGN's evaluation: r = 2 × workspace size, θ = π/6)."""
    if not 0.01 <= polar <= np.pi / 2:
        raise ValueError(f"polar angle must lie in [0.01, π/2] (straight down has no image 'up'), got {polar}")
    phi = rng.uniform(0.0, 2.0 * np.pi)
    return centre + radius * np.array([np.sin(polar) * np.cos(phi), np.sin(polar) * np.sin(phi), np.cos(polar)])


def crop_to_workspace(points: np.ndarray, half_size: float, height: float, *, table_margin: float = 0.005) -> np.ndarray:
    """Points inside the workspace cube and above the table plane (z = 0) by ``table_margin``."""
    keep = (np.abs(points[:, 0]) <= half_size) & (np.abs(points[:, 1]) <= half_size)
    keep &= (points[:, 2] > table_margin) & (points[:, 2] < height)
    return points[keep]
