"""Generate the URDF models that ``pybullet_data`` lacks into ``assets/`` (deterministic, no downloads).

Models:
    drawer/drawer.urdf  a small cabinet (fixed base) with one drawer on a prismatic joint and a
                        handle: a bar held 4 cm out of the drawer front by two posts, that the Panda
                        grasps from above with its fingers closing along the drawer's axis.
    bowl/bowl.urdf      an upright bowl: a bottom disc and a ring of tilted boxes (a compound of
                        convex pieces, which pybullet needs for a dynamic body).

pybullet reports a body's pose at its base's centre of mass, so both bases put theirs at the link
origin (on the table, under the body's centre): a body's pose is then its footprint centre. For the
bowl this is a weighted bottom, which also keeps it upright.

Run ``python scripts/make_assets.py`` from anywhere; the files are written next to this script's
``../assets`` and the output is byte-identical on every run. Geometry constants used by the tasks
(handle position, bowl size) are restated in the task modules.
"""

from __future__ import annotations

import math
from pathlib import Path

ASSETS = Path(__file__).resolve().parents[1] / "assets"

# -- cabinet with a drawer (cabinet frame: origin on the table under the footprint centre, the drawer
#    slides out along +x) --------------------------------------------------------------------------
CAB_X, CAB_Y, CAB_Z = 0.06, 0.07, 0.07  # half depth, half width, full height (m)
WALL = 0.006
DRAWER_TRAVEL = 0.15  # joint range [0, DRAWER_TRAVEL]
# the handle: a bar parallel to the drawer front, held out by two posts. The Panda grasps it from
# above with its fingers closing along the drawer's axis, one finger between the front and the bar.
HANDLE_STANDOFF = 0.04  # bar axis ahead of the drawer front (room for a finger behind the bar)
HANDLE_BAR = (0.006, 0.04)  # half thickness (x) and half length (y) of the bar
HANDLE_Z = (0.042, 0.058)  # height range of the bar and posts above the table
POST_Y = (0.026, 0.034)  # the posts' y range (mirrored), clear of a finger (2 cm wide) at the centre

CABINET_RGBA = (0.55, 0.42, 0.30, 1.0)
DRAWER_RGBA = (0.78, 0.64, 0.45, 1.0)
HANDLE_RGBA = (0.25, 0.25, 0.28, 1.0)

# -- bowl (origin on the table under the bowl's centre) ------------------------------------------
BOWL_BOTTOM_R = 0.055
BOWL_TOP_R = 0.075
BOWL_HEIGHT = 0.05
BOWL_BOTTOM_T = 0.008
BOWL_WALL_T = 0.006
BOWL_SEGMENTS = 16
BOWL_MASS = 0.4
BOWL_RGBA = (0.20, 0.45, 0.75, 1.0)


def fmt(*values: float) -> str:
    """Numbers with a fixed precision so the output is reproducible."""
    return " ".join(f"{v:.5f}".rstrip("0").rstrip(".") if v != 0 else "0" for v in values)


def box_xml(lo: tuple[float, float, float], hi: tuple[float, float, float], rgba: tuple[float, ...],
            name: str) -> str:
    """A visual and a collision box spanning the axis-aligned corners ``lo``..``hi``."""
    centre = [(a + b) / 2 for a, b in zip(lo, hi)]
    size = [b - a for a, b in zip(lo, hi)]
    return tilted_box_xml(centre, size, (0.0, 0.0, 0.0), rgba, name)


def tilted_box_xml(centre, size, rpy, rgba, name: str) -> str:
    pose = f'<origin xyz="{fmt(*centre)}" rpy="{fmt(*rpy)}"/>'
    return element_xml(name, pose, f'<box size="{fmt(*size)}"/>', rgba)


def element_xml(name: str, origin: str, geometry: str, rgba: tuple[float, ...]) -> str:
    """A visual and a collision element with the same pose and geometry."""
    geom = f"{origin}\n      <geometry>{geometry}</geometry>"
    material = f'<material name="{name}_mat"><color rgba="{fmt(*rgba)}"/></material>'
    return (f'    <visual name="{name}">\n      {geom}\n      {material}\n    </visual>\n'
            f'    <collision name="{name}">\n      {geom}\n    </collision>\n')


def inertial_xml(mass: float, com: tuple[float, float, float], diag: tuple[float, float, float]) -> str:
    return (f'    <inertial>\n      <origin xyz="{fmt(*com)}" rpy="0 0 0"/>\n      <mass value="{fmt(mass)}"/>\n'
            f'      <inertia ixx="{diag[0]:.3e}" ixy="0" ixz="0" iyy="{diag[1]:.3e}" iyz="0" izz="{diag[2]:.3e}"/>\n'
            f'    </inertial>\n')


def box_inertia(mass: float, size: tuple[float, float, float]) -> tuple[float, float, float]:
    x, y, z = size
    return (mass * (y * y + z * z) / 12, mass * (x * x + z * z) / 12, mass * (x * x + y * y) / 12)


def drawer_urdf() -> str:
    x, y, z, t = CAB_X, CAB_Y, CAB_Z, WALL
    shell = "".join([
        box_xml((-x, -y, 0.0), (x, y, t), CABINET_RGBA, "bottom"),
        box_xml((-x, -y, z - t), (x, y, z), CABINET_RGBA, "top"),
        box_xml((-x, -y, t), (x, -y + t, z - t), CABINET_RGBA, "right"),
        box_xml((-x, y - t, t), (x, y, z - t), CABINET_RGBA, "left"),
        box_xml((-x, -y + t, t), (-x + t, y - t, z - t), CABINET_RGBA, "back"),
    ])
    # the drawer fills the cavity with a 2 mm gap; its front is flush with the cabinet's front
    gap, dt = 0.002, 0.004
    bx0, by, bz0, bz1 = -x + t + gap, y - t - gap, t + gap, z - t - gap
    front = x - 0.008
    h0, h1 = HANDLE_Z
    drawer = "".join([
        box_xml((front, -by, bz0), (x, by, bz1), DRAWER_RGBA, "front"),
        box_xml((bx0, -by, bz0), (front, by, bz0 + dt), DRAWER_RGBA, "floor"),
        box_xml((bx0, -by, bz0), (front, -by + dt, bz1 - 0.015), DRAWER_RGBA, "side_r"),
        box_xml((bx0, by - dt, bz0), (front, by, bz1 - 0.015), DRAWER_RGBA, "side_l"),
        box_xml((bx0, -by, bz0), (bx0 + dt, by, bz1 - 0.015), DRAWER_RGBA, "rear"),
        box_xml((x, -POST_Y[1], h0), (x + HANDLE_STANDOFF, -POST_Y[0], h1), HANDLE_RGBA, "post_r"),
        box_xml((x, POST_Y[0], h0), (x + HANDLE_STANDOFF, POST_Y[1], h1), HANDLE_RGBA, "post_l"),
        box_xml((x + HANDLE_STANDOFF - HANDLE_BAR[0], -HANDLE_BAR[1], h0),
                (x + HANDLE_STANDOFF + HANDLE_BAR[0], HANDLE_BAR[1], h1), HANDLE_RGBA, "handle"),
    ])
    drawer_size = (x - bx0, 2 * by, bz1 - bz0)
    return f"""<?xml version="1.0"?>
<!-- Generated by scripts/make_assets.py; do not edit by hand. License: MIT (as the project). -->
<robot name="drawer">
  <link name="cabinet">
{inertial_xml(1.0, (0.0, 0.0, 0.0), box_inertia(1.0, (2 * x, 2 * y, z)))}{shell}  </link>
  <link name="drawer">
{inertial_xml(0.2, ((x + bx0) / 2, 0.0, (bz0 + bz1) / 2), box_inertia(0.2, drawer_size))}{drawer}  </link>
  <joint name="drawer_slide" type="prismatic">
    <parent link="cabinet"/>
    <child link="drawer"/>
    <origin xyz="0 0 0" rpy="0 0 0"/>
    <axis xyz="1 0 0"/>
    <limit lower="0" upper="{fmt(DRAWER_TRAVEL)}" effort="100" velocity="1"/>
    <dynamics damping="2.0" friction="1.0"/>
  </joint>
</robot>
"""


def bowl_urdf() -> str:
    rise = BOWL_TOP_R - BOWL_BOTTOM_R
    tilt = math.atan2(rise, BOWL_HEIGHT - BOWL_BOTTOM_T)  # outward lean of the wall from vertical
    length = math.hypot(rise, BOWL_HEIGHT - BOWL_BOTTOM_T) + 0.006  # overlaps the bottom disc a little
    # the wall's inner face runs from (bottom radius, bottom top) to (top radius, height)
    r_mid = (BOWL_BOTTOM_R + BOWL_TOP_R) / 2 + BOWL_WALL_T / 2 * math.cos(tilt)
    z_mid = (BOWL_BOTTOM_T + BOWL_HEIGHT) / 2 - BOWL_WALL_T / 2 * math.sin(tilt)
    width = 2 * (BOWL_TOP_R + BOWL_WALL_T) * math.sin(math.pi / BOWL_SEGMENTS) * 1.05  # no gaps at the rim
    walls = []
    for k in range(BOWL_SEGMENTS):
        a = 2 * math.pi * k / BOWL_SEGMENTS
        walls.append(tilted_box_xml((r_mid * math.cos(a), r_mid * math.sin(a), z_mid), (BOWL_WALL_T, width, length),
                                    (0.0, tilt, a), BOWL_RGBA, f"wall{k:02d}"))
    bottom = element_xml("bottom", f'<origin xyz="0 0 {fmt(BOWL_BOTTOM_T / 2)}" rpy="0 0 0"/>',
                         f'<cylinder radius="{fmt(BOWL_BOTTOM_R + 0.003)}" length="{fmt(BOWL_BOTTOM_T)}"/>', BOWL_RGBA)
    r = BOWL_TOP_R
    inertia = (BOWL_MASS * (3 * r * r + BOWL_HEIGHT ** 2) / 12,) * 2 + (BOWL_MASS * r * r / 2,)
    return f"""<?xml version="1.0"?>
<!-- Generated by scripts/make_assets.py; do not edit by hand. License: MIT (as the project). -->
<robot name="bowl">
  <link name="bowl">
{inertial_xml(BOWL_MASS, (0.0, 0.0, 0.0), inertia)}{bottom}{''.join(walls)}  </link>
</robot>
"""


README = """# Assets

Models made for equimanip (not in `pybullet_data`). They are generated by
`scripts/make_assets.py` (`python scripts/make_assets.py` rewrites them byte for byte); edit the
script, not the files. License: MIT, the same as the project.

- `drawer/drawer.urdf`: a 12 × 14 × 7 cm cabinet (fixed base) with one drawer on a prismatic joint
  (`drawer_slide`, 0 to 0.15 m along the cabinet's +x) and a handle: a bar parallel to the drawer
  front held 4 cm out of it by two posts, 4.2 to 5.8 cm above the table.
- `bowl/bowl.urdf`: an upright bowl, 11 cm wide at the bottom, 15 cm at the rim, 5 cm tall, 0.4 kg:
  a bottom disc and 16 tilted wall boxes (convex pieces for a dynamic body).
- `textures/grid.png`: the `grid_floor` corruption's table texture (dark 2-pixel lines every 32
  pixels on light grey, 256 × 256).
"""


def grid_texture(size: int = 256, spacing: int = 32, width: int = 2):
    """Light-grey image with dark grid lines (uint8 H×W×3)."""
    import numpy as np

    img = np.full((size, size, 3), 205, dtype=np.uint8)
    for offset in range(width):
        img[offset::spacing, :, :] = 60
        img[:, offset::spacing, :] = 60
    return img


def main() -> None:
    outputs = {
        ASSETS / "drawer" / "drawer.urdf": drawer_urdf(),
        ASSETS / "bowl" / "bowl.urdf": bowl_urdf(),
        ASSETS / "README.md": README,
    }
    for path, text in outputs.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ASSETS.parent)}")
    import imageio.v2 as imageio

    texture = ASSETS / "textures" / "grid.png"
    texture.parent.mkdir(parents=True, exist_ok=True)
    imageio.imwrite(texture, grid_texture())
    print(f"wrote {texture.relative_to(ASSETS.parent)}")


if __name__ == "__main__":
    main()
