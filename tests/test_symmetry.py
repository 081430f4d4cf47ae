"""The symmetry core: groups, their action on actions, images and point clouds."""

from __future__ import annotations

import math

import numpy as np
import pytest

from equimanip.symmetry import (ACTION_COMPONENTS, ACTION_DIM, ACTION_INDEX, O2, SO2, CyclicGroup, DihedralGroup,
                                GroupElement, action_representation, group_from_name, transform_action,
                                transform_image, transform_planar_pose, transform_points)

FINITE = [CyclicGroup(4), CyclicGroup(8), DihedralGroup(4), DihedralGroup(8)]
ALL = FINITE + [SO2(), O2()]


@pytest.mark.parametrize("group", ALL, ids=str)
def test_action_representation_is_a_homomorphism(group):
    for a in group.testing_elements():
        for b in group.testing_elements():
            lhs = action_representation(a.compose(b))
            rhs = action_representation(a) @ action_representation(b)
            assert np.abs(lhs - rhs).max() < 1e-9, (a, b)


@pytest.mark.parametrize("group", ALL, ids=str)
def test_action_representation_is_orthogonal_and_inverse_matches(group):
    for g in group.testing_elements():
        rho = action_representation(g)
        assert np.allclose(rho @ rho.T, np.eye(ACTION_DIM))
        assert np.allclose(action_representation(g.inverse()), rho.T)


def test_action_components_act_as_declared():
    a = np.array([0.3, 1.0, 0.0, -0.4, 0.7])
    quarter = transform_action(a, GroupElement(math.pi / 2))
    assert np.allclose(quarter[ACTION_INDEX["dxy"]], [0.0, 1.0])  # vector rotates
    assert quarter[ACTION_INDEX["p"]] == pytest.approx(0.3)  # invariant
    assert quarter[ACTION_INDEX["dz"]] == pytest.approx(-0.4)
    assert quarter[ACTION_INDEX["dtheta"]] == pytest.approx(0.7)  # yaw delta invariant under rotation
    flipped = transform_action(a, GroupElement(0.0, reflection=True))
    assert np.allclose(flipped[ACTION_INDEX["dxy"]], [1.0, 0.0])
    assert flipped[ACTION_INDEX["dtheta"]] == pytest.approx(-0.7)  # and flips under reflection
    assert [c.name for c in ACTION_COMPONENTS] == ["p", "dxy", "dz", "dtheta"]


@pytest.mark.parametrize("group", FINITE, ids=str)
def test_group_closure(group):
    elements = group.elements()
    assert len(elements) == group.order
    for a in elements:
        for b in elements:
            assert group.contains(a.compose(b))
        assert group.contains(a.inverse())
        assert a.compose(a.inverse()).matrix() == pytest.approx(np.eye(2))


@pytest.mark.parametrize("group", [CyclicGroup(4), DihedralGroup(4)], ids=str)
def test_image_action_is_a_homomorphism(group):
    img = np.random.default_rng(0).normal(size=(2, 8, 8))
    for a in group.elements():
        for b in group.elements():
            lhs = transform_image(img, a.compose(b))
            rhs = transform_image(transform_image(img, b), a)
            assert np.array_equal(lhs, rhs), (a, b)


def test_image_rotation_matches_point_rotation():
    """A pixel at planar position p (x right, y up) moves to g·p."""
    size = 9
    img = np.zeros((size, size))
    img[1, 6] = 1.0  # row 1, col 6 -> x = 2, y = 3
    for g in DihedralGroup(4).elements():
        out = transform_image(img, g)
        r, c = np.argwhere(out == 1.0)[0]
        x, y = c - (size - 1) / 2, (size - 1) / 2 - r
        assert np.allclose([x, y], g.matrix() @ np.array([2.0, 3.0])), g


def test_bilinear_rotation_close_to_exact_for_smooth_images():
    yy, xx = np.mgrid[-1:1:64j, -1:1:64j]
    img = np.exp(-((xx - 0.3) ** 2 + yy ** 2) * 8)
    almost = GroupElement(math.pi / 2 + 1e-7)
    assert almost.quarter_turns() is None
    assert np.abs(transform_image(img, almost) - transform_image(img, GroupElement(math.pi / 2))).max() < 1e-3


def test_points_and_planar_poses():
    pts = np.array([[0.6, 0.1, 0.2]])
    g = GroupElement(math.pi / 2, reflection=True)
    out = transform_points(pts, g, centre_xy=(0.5, 0.0))
    assert np.allclose(out, [[0.6, 0.1, 0.2]])  # (0.1, 0.1) -> F -> (0.1, -0.1) -> R90 -> (0.1, 0.1)
    assert np.allclose(transform_points(pts, GroupElement(math.pi / 2), (0.5, 0.0)), [[0.4, 0.1, 0.2]])
    xy, yaw = transform_planar_pose((0.6, 0.1), 0.3, g, centre_xy=(0.5, 0.0))
    assert np.allclose(xy, out[0, :2])
    assert yaw == pytest.approx(-0.3 + math.pi / 2)


@pytest.mark.parametrize("name,expected", [("C4", "C4"), ("d8", "D8"), ("SO2", "SO2"), ("O(2)", "O2")])
def test_group_from_name(name, expected):
    assert group_from_name(name).name == expected


@pytest.mark.parametrize("name", ["", "X4", "C0", "Dx", "SE3"])
def test_group_from_name_rejects_unknown_names(name):
    with pytest.raises(ValueError, match="accepted"):
        group_from_name(name)


def test_subgroups():
    assert CyclicGroup(4).is_subgroup_of(DihedralGroup(8))
    assert DihedralGroup(4).is_subgroup_of(O2())
    assert not DihedralGroup(4).is_subgroup_of(SO2())
    assert not CyclicGroup(8).is_subgroup_of(CyclicGroup(4))
