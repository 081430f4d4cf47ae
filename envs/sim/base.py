"""The simulator interface every backend implements.

Tasks, the robot and the cameras only use this interface, with bodies addressed by name, so a
MuJoCo backend can be added without touching any task (the panda-gym design).
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from collections.abc import Sequence

import numpy as np

Vec3 = Sequence[float]
Quat = Sequence[float]  # (x, y, z, w), pybullet's order


@dataclass(frozen=True)
class Contact:
    """One contact point between two named bodies."""

    body_a: str
    link_a: int
    body_b: str
    link_b: int
    normal_force: float


@dataclass
class RenderResult:
    """What :meth:`Simulator.render` returns: metric depth (H×W, metres along the view axis) and
    optionally RGB (H×W×3 uint8)."""

    depth: np.ndarray
    rgb: np.ndarray | None = None


class Simulator(abc.ABC):
    """A physics world with named bodies, joints, contacts, cameras and state snapshots."""

    timestep: float

    # -- bodies -------------------------------------------------------------------------------
    @abc.abstractmethod
    def load_urdf(self, name: str, path: str, position: Vec3, orientation: Quat = (0, 0, 0, 1), *,
                  fixed: bool = False, scale: float = 1.0, inertia_from_file: bool = True) -> None:
        """Load a URDF (relative paths: see :meth:`resolve_path`); ``inertia_from_file=False``
        computes inertia from the collision shapes instead of trusting the file."""

    @abc.abstractmethod
    def resolve_path(self, path: str) -> str:
        """Absolute path of a model file: absolute paths as they are, relative ones in the backend's
        model library (``pybullet_data`` for pybullet)."""

    @abc.abstractmethod
    def create_box(self, name: str, half_extents: Vec3, position: Vec3, orientation: Quat = (0, 0, 0, 1), *,
                   mass: float = 0.1, rgba: Sequence[float] = (0.8, 0.2, 0.2, 1.0), collision: bool = True) -> None: ...

    @abc.abstractmethod
    def create_cylinder(self, name: str, radius: float, height: float, position: Vec3, orientation: Quat = (0, 0, 0, 1), *,
                        mass: float = 0.1, rgba: Sequence[float] = (0.2, 0.8, 0.2, 1.0), collision: bool = True) -> None: ...

    @abc.abstractmethod
    def remove(self, name: str) -> None: ...

    @abc.abstractmethod
    def body_names(self) -> list[str]: ...

    def has(self, name: str) -> bool:
        return name in self.body_names()

    @abc.abstractmethod
    def get_pose(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Base position (3,) and quaternion (4, xyzw) of a body."""

    @abc.abstractmethod
    def set_pose(self, name: str, position: Vec3, orientation: Quat = (0, 0, 0, 1)) -> None:
        """Teleport a body and zero its velocity."""

    @abc.abstractmethod
    def set_sleeping(self, name: str, sleeping: bool) -> None:
        """Freeze a body where it is, skipped by the physics until woken (to park unused bodies at
        no cost), or wake it (it then never falls asleep by itself)."""

    @abc.abstractmethod
    def velocity(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """Base linear (3,) and angular (3,) velocity of a body (world frame)."""

    @abc.abstractmethod
    def set_velocity(self, name: str, linear: Vec3, angular: Vec3) -> None:
        """Set a body's base linear and angular velocity (world frame)."""

    @abc.abstractmethod
    def aabb(self, name: str, link: int = -1) -> tuple[np.ndarray, np.ndarray]: ...

    @abc.abstractmethod
    def set_dynamics(self, name: str, link: int = -1, **properties: float) -> None:
        """Set friction/damping/mass (keys: lateral_friction, spinning_friction, rolling_friction,
        restitution, mass, linear_damping, angular_damping)."""

    @abc.abstractmethod
    def set_visible(self, name: str, visible: bool) -> None:
        """Show or hide a body in rendered images (physics unchanged)."""

    @abc.abstractmethod
    def set_color(self, name: str, rgba: Sequence[float], link: int = -1) -> None: ...

    @abc.abstractmethod
    def set_texture(self, name: str, image_path: str) -> None: ...

    # -- joints -------------------------------------------------------------------------------
    @abc.abstractmethod
    def num_joints(self, name: str) -> int: ...

    @abc.abstractmethod
    def joint_positions(self, name: str, joints: Sequence[int]) -> np.ndarray: ...

    @abc.abstractmethod
    def reset_joints(self, name: str, joints: Sequence[int], positions: Sequence[float]) -> None: ...

    @abc.abstractmethod
    def control_joints(self, name: str, joints: Sequence[int], targets: Sequence[float], forces: Sequence[float],
                       position_gain: float | None = None) -> None:
        """Position-control joints towards ``targets`` (``position_gain``: the backend's PD gain)."""

    @abc.abstractmethod
    def set_joint_friction(self, name: str, joints: Sequence[int], forces: Sequence[float]) -> None:
        """Resist the joints' motion with Coulomb friction of at most ``forces`` (N or N·m; 0 frees them).

        Passive joints (a drawer's slide) then stay where they are left instead of drifting.
        """

    @abc.abstractmethod
    def couple_joints(self, name: str, joint_a: int, joint_b: int, *, max_force: float = 50.0) -> None:
        """Keep two joints of a body at equal positions (a gear: the fingers of a parallel gripper)."""

    @abc.abstractmethod
    def link_pose(self, name: str, link: int) -> tuple[np.ndarray, np.ndarray]: ...

    @abc.abstractmethod
    def inverse_kinematics(self, name: str, link: int, position: Vec3, orientation: Quat, *,
                           seed: Sequence[float] | None = None, iterations: int = 50) -> np.ndarray:
        """Joint positions (all movable joints) that put ``link`` at the pose, starting from ``seed``
        (all movable joints) or the current configuration."""

    # -- physics ------------------------------------------------------------------------------
    @abc.abstractmethod
    def step(self, n: int = 1) -> None: ...

    @abc.abstractmethod
    def contacts(self, name_a: str, name_b: str | None = None) -> list[Contact]: ...

    def in_contact(self, name_a: str, name_b: str) -> bool:
        return len(self.contacts(name_a, name_b)) > 0

    @abc.abstractmethod
    def forget_contacts(self) -> None:
        """Drop cached contacts (solver warm-start data), so the next episode does not depend on the
        last one. Moves bodies: restore a state or place every body afterwards."""

    # -- state --------------------------------------------------------------------------------
    @abc.abstractmethod
    def save_state(self) -> int: ...

    @abc.abstractmethod
    def restore_state(self, state_id: int) -> None: ...

    @abc.abstractmethod
    def remove_state(self, state_id: int) -> None: ...

    # -- rendering ----------------------------------------------------------------------------
    @abc.abstractmethod
    def render(self, width: int, height: int, view: np.ndarray, projection: np.ndarray, *, rgb: bool = False,
               light_direction: Vec3 | None = None, specular: float | None = None, shadow: bool = False) -> RenderResult:
        """Render with OpenGL-convention 4×4 view and projection matrices (row-major numpy);
        depth is metric distance along the view axis, for perspective and orthographic matrices."""

    @abc.abstractmethod
    def close(self) -> None: ...
