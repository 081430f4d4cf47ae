"""Planar symmetry groups about the table normal and how they act on our data.

This module is the one place where the symmetry of a task lives: groups (C_n, D_n, SO(2), O(2)),
their action on the 5-D action vector ``(p, dx, dy, dz, dθ)``, on top-down images and on point
clouds. It imports nothing of ours and no simulator, so policies, augmentation, environments and
tests can all read the same declaration.

Conventions (pinned down by tests):

* An element ``g = (θ, r)`` acts on the plane as ``R(θ) · F^r`` with ``F = diag(1, -1)`` (a
  reflection across the world x-axis, applied first).
* Top-down images are rendered with image "up" = world +y and image "right" = world +x, so a
  counter-clockwise world rotation by 90° is ``np.rot90(image, k=1)`` on the last two axes, and the
  reflection ``F`` (y → -y) flips the image upside down.
* Action components: ``p`` and ``dz`` are invariant, ``(dx, dy)`` rotates as a vector, ``dθ`` is
  invariant under rotations and changes sign under reflections.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from collections.abc import Iterator, Sequence

import numpy as np

__all__ = [
    "GroupElement",
    "Group",
    "CyclicGroup",
    "DihedralGroup",
    "SO2",
    "O2",
    "group_from_name",
    "ActionComponent",
    "ACTION_COMPONENTS",
    "ACTION_INDEX",
    "ACTION_DIM",
    "TaskSymmetry",
    "PLANAR_SYMMETRY",
    "transform_action",
    "action_representation",
    "transform_image",
    "transform_points",
    "transform_planar_pose",
]

_TWO_PI = 2.0 * math.pi


@dataclass(frozen=True)
class GroupElement:
    """A planar isometry fixing the origin: rotation by ``angle`` after an optional reflection."""

    angle: float = 0.0
    reflection: bool = False

    def normalized(self) -> GroupElement:
        return GroupElement(float(self.angle % _TWO_PI), bool(self.reflection))

    def compose(self, other: GroupElement) -> GroupElement:
        """``self · other`` (apply ``other`` first)."""
        # R(a)F^r R(b)F^s = R(a + (-1)^r b) F^(r xor s)
        sign = -1.0 if self.reflection else 1.0
        return GroupElement(self.angle + sign * other.angle, self.reflection != other.reflection).normalized()

    def inverse(self) -> GroupElement:
        if self.reflection:
            return GroupElement(self.angle, True).normalized()  # reflections are involutions
        return GroupElement(-self.angle, False).normalized()

    def matrix(self) -> np.ndarray:
        """2×2 orthogonal matrix of the element acting on planar vectors."""
        c, s = math.cos(self.angle), math.sin(self.angle)
        rot = np.array([[c, -s], [s, c]])
        if self.reflection:
            rot = rot @ np.diag([1.0, -1.0])
        return rot

    def quarter_turns(self) -> int | None:
        """Number of 90° turns if the rotation is a multiple of 90° (within 1e-9), else ``None``."""
        k = self.angle / (math.pi / 2.0)
        kr = round(k)
        return int(kr) % 4 if abs(k - kr) < 1e-9 else None

    def __matmul__(self, other: GroupElement) -> GroupElement:
        return self.compose(other)


class Group:
    """A subgroup of O(2) about the table normal."""

    name: str
    order: int | None  # None for continuous groups
    has_reflections: bool

    def identity(self) -> GroupElement:
        return GroupElement()

    def elements(self) -> list[GroupElement]:
        raise TypeError(f"{self.name} is continuous and has no finite element list; use sample()")

    def sample(self, rng: np.random.Generator) -> GroupElement:
        raise NotImplementedError

    def testing_elements(self) -> list[GroupElement]:
        """Elements used to check equivariance (all of a finite group, a fixed grid otherwise)."""
        return self.elements()

    def contains(self, g: GroupElement, atol: float = 1e-9) -> bool:
        raise NotImplementedError

    def is_subgroup_of(self, other: Group) -> bool:
        """True when every element of ``self`` lies in ``other``."""
        if self.has_reflections and not other.has_reflections:
            return False
        if self.order is None:
            return other.order is None
        return all(other.contains(g) for g in self.elements())

    def __repr__(self) -> str:
        return self.name

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Group) and other.name == self.name

    def __hash__(self) -> int:
        return hash(self.name)


class CyclicGroup(Group):
    """C_n: rotations by multiples of 2π/n."""

    def __init__(self, n: int):
        if int(n) != n or n < 1:
            raise ValueError(f"C_n needs a positive integer n, got {n!r}")
        self.n = int(n)
        self.name = f"C{self.n}"
        self.order = self.n
        self.has_reflections = False

    def elements(self) -> list[GroupElement]:
        return [GroupElement(_TWO_PI * k / self.n) for k in range(self.n)]

    def sample(self, rng: np.random.Generator) -> GroupElement:
        return GroupElement(_TWO_PI * int(rng.integers(self.n)) / self.n)

    def contains(self, g: GroupElement, atol: float = 1e-9) -> bool:
        k = g.angle * self.n / _TWO_PI
        return not g.reflection and abs(k - round(k)) < atol


class DihedralGroup(Group):
    """D_n: C_n plus the reflections ``R(2πk/n)·F``."""

    def __init__(self, n: int):
        if int(n) != n or n < 1:
            raise ValueError(f"D_n needs a positive integer n, got {n!r}")
        self.n = int(n)
        self.name = f"D{self.n}"
        self.order = 2 * self.n
        self.has_reflections = True

    def elements(self) -> list[GroupElement]:
        return [GroupElement(_TWO_PI * k / self.n, r) for r in (False, True) for k in range(self.n)]

    def sample(self, rng: np.random.Generator) -> GroupElement:
        return GroupElement(_TWO_PI * int(rng.integers(self.n)) / self.n, bool(rng.integers(2)))

    def contains(self, g: GroupElement, atol: float = 1e-9) -> bool:
        k = g.angle * self.n / _TWO_PI
        return abs(k - round(k)) < atol


class SO2(Group):
    """All planar rotations."""

    name = "SO2"
    order = None
    has_reflections = False

    def sample(self, rng: np.random.Generator) -> GroupElement:
        return GroupElement(float(rng.uniform(0.0, _TWO_PI)))

    def testing_elements(self) -> list[GroupElement]:
        return [GroupElement(_TWO_PI * k / 16) for k in range(16)]

    def contains(self, g: GroupElement, atol: float = 1e-9) -> bool:
        return not g.reflection


class O2(Group):
    """All planar rotations and reflections."""

    name = "O2"
    order = None
    has_reflections = True

    def sample(self, rng: np.random.Generator) -> GroupElement:
        return GroupElement(float(rng.uniform(0.0, _TWO_PI)), bool(rng.integers(2)))

    def testing_elements(self) -> list[GroupElement]:
        return [GroupElement(_TWO_PI * k / 16, r) for r in (False, True) for k in range(16)]

    def contains(self, g: GroupElement, atol: float = 1e-9) -> bool:
        return True


def group_from_name(name: str) -> Group:
    """Parse ``C4``, ``C8``, ``D4``, ``D8``, ``SO2`` or ``O2`` (case-insensitive)."""
    key = str(name).strip().upper().replace("(", "").replace(")", "")
    if key in ("SO2",):
        return SO2()
    if key in ("O2",):
        return O2()
    if len(key) >= 2 and key[0] in "CD" and key[1:].isdigit() and int(key[1:]) >= 1:
        return CyclicGroup(int(key[1:])) if key[0] == "C" else DihedralGroup(int(key[1:]))
    raise ValueError(f"unknown group {name!r}; accepted: C<n>, D<n> (n ≥ 1, e.g. C4, C8, D4, D8), SO2, O2")


# --------------------------------------------------------------------------------------------
# The action layout: named once, read by envs, policies, augmentation and tests.


@dataclass(frozen=True)
class ActionComponent:
    """A named slice of the action vector and how the group acts on it.

    ``kind`` is ``"trivial"`` (invariant), ``"vector"`` (2-D, rotates and reflects with the plane)
    or ``"pseudoscalar"`` (invariant under rotations, sign flip under reflections: a yaw delta).
    """

    name: str
    kind: str
    size: int


ACTION_COMPONENTS: tuple[ActionComponent, ...] = (
    ActionComponent("p", "trivial", 1),
    ActionComponent("dxy", "vector", 2),
    ActionComponent("dz", "trivial", 1),
    ActionComponent("dtheta", "pseudoscalar", 1),
)


def _component_slices(components: Sequence[ActionComponent]) -> dict[str, slice]:
    out, start = {}, 0
    for comp in components:
        out[comp.name] = slice(start, start + comp.size)
        start += comp.size
    return out


ACTION_INDEX: dict[str, slice] = _component_slices(ACTION_COMPONENTS)
ACTION_DIM: int = sum(c.size for c in ACTION_COMPONENTS)


@dataclass(frozen=True)
class TaskSymmetry:
    """A task's symmetry declaration.

    Attributes:
        group: the largest group the task's dynamics and success are invariant under (about the
            workspace centre, ignoring the fixed robot base).
        action: how the group acts on the action vector.
        centre_xy: the workspace centre that scene rotations are taken about.
    """

    group: Group = field(default_factory=O2)
    action: tuple[ActionComponent, ...] = ACTION_COMPONENTS
    centre_xy: tuple[float, float] = (0.5, 0.0)

    def check_subgroup(self, group: Group) -> Group:
        """Return ``group`` if the task admits it, else raise a ``ValueError`` that says why."""
        if not group.is_subgroup_of(self.group):
            raise ValueError(f"group {group.name} is not a symmetry of this task (declared: {self.group.name})")
        return group


PLANAR_SYMMETRY = TaskSymmetry()


def action_representation(g: GroupElement, components: Sequence[ActionComponent] = ACTION_COMPONENTS) -> np.ndarray:
    """The (block-diagonal) matrix ρ(g) with ``transform_action(a, g) == ρ(g) @ a``."""
    dim = sum(c.size for c in components)
    rho = np.zeros((dim, dim))
    i = 0
    for comp in components:
        if comp.kind == "trivial":
            rho[i : i + comp.size, i : i + comp.size] = np.eye(comp.size)
        elif comp.kind == "pseudoscalar":
            rho[i : i + comp.size, i : i + comp.size] = -np.eye(comp.size) if g.reflection else np.eye(comp.size)
        elif comp.kind == "vector":
            rho[i : i + 2, i : i + 2] = g.matrix()
        else:
            raise ValueError(f"unknown action component kind {comp.kind!r}; accepted: trivial, vector, pseudoscalar")
        i += comp.size
    return rho


def transform_action(action: np.ndarray, g: GroupElement,
                     components: Sequence[ActionComponent] = ACTION_COMPONENTS) -> np.ndarray:
    """Apply ``g`` to one action or a batch (last axis = action components)."""
    action = np.asarray(action)
    rho = action_representation(g, components).astype(action.dtype if action.dtype.kind == "f" else np.float64)
    return action @ rho.T


def transform_image(image: np.ndarray, g: GroupElement) -> np.ndarray:
    """Apply ``g`` to a top-down image (last two axes = rows, columns) about its centre.

    Multiples of 90° (with or without reflection) are exact pixel permutations; other angles are
    resampled bilinearly (pixels that come from outside the image take the nearest edge value).
    """
    image = np.asarray(image)
    out = np.flip(image, axis=-2) if g.reflection else image  # F: y -> -y flips rows
    k = g.quarter_turns()
    if k is not None:
        return np.ascontiguousarray(np.rot90(out, k=k, axes=(-2, -1)))
    return _rotate_bilinear(np.ascontiguousarray(out), g.angle)


def _rotate_bilinear(image: np.ndarray, angle: float) -> np.ndarray:
    h, w = image.shape[-2:]
    rows, cols = np.meshgrid(np.arange(h), np.arange(w), indexing="ij")
    # pixel -> planar coordinates (x right, y up), centred
    x = cols - (w - 1) / 2.0
    y = (h - 1) / 2.0 - rows
    c, s = math.cos(angle), math.sin(angle)
    # output pixel at p takes the input at R(-angle) p
    xs = c * x + s * y
    ys = -s * x + c * y
    src_c = np.clip(xs + (w - 1) / 2.0, 0, w - 1)
    src_r = np.clip((h - 1) / 2.0 - ys, 0, h - 1)
    r0 = np.floor(src_r).astype(int)
    c0 = np.floor(src_c).astype(int)
    r1 = np.minimum(r0 + 1, h - 1)
    c1 = np.minimum(c0 + 1, w - 1)
    fr = src_r - r0
    fc = src_c - c0
    top = image[..., r0, c0] * (1 - fc) + image[..., r0, c1] * fc
    bottom = image[..., r1, c0] * (1 - fc) + image[..., r1, c1] * fc
    return (top * (1 - fr) + bottom * fr).astype(image.dtype, copy=False)


def transform_points(points: np.ndarray, g: GroupElement, centre_xy: Sequence[float] = (0.0, 0.0)) -> np.ndarray:
    """Apply ``g`` to points (…×3, world frame) about the vertical axis through ``centre_xy``."""
    points = np.asarray(points)
    centre = np.asarray(centre_xy, dtype=points.dtype if points.dtype.kind == "f" else np.float64)
    out = points.astype(np.result_type(points.dtype, np.float32), copy=True)
    out[..., :2] = (points[..., :2] - centre) @ g.matrix().T.astype(out.dtype) + centre
    return out


def transform_planar_pose(xy: Sequence[float], yaw: float, g: GroupElement,
                          centre_xy: Sequence[float] = (0.0, 0.0)) -> tuple[np.ndarray, float]:
    """Apply ``g`` to a planar pose (position about ``centre_xy`` and heading ``yaw``)."""
    centre = np.asarray(centre_xy, dtype=float)
    new_xy = g.matrix() @ (np.asarray(xy, dtype=float) - centre) + centre
    new_yaw = (-yaw if g.reflection else yaw) + g.angle
    return new_xy, float(new_yaw)


def iter_pairs(group: Group) -> Iterator[tuple[GroupElement, GroupElement]]:
    """All pairs of testing elements (for homomorphism checks)."""
    els = group.testing_elements()
    for a in els:
        for b in els:
            yield a, b
