"""The labelled grasp data format: round trip, atomic shards, clear errors for bad folders and files."""

from __future__ import annotations

import json

import numpy as np
import pytest

from equimanip.agents.grasp_dataset import FORMAT_VERSION, read_shard, read_shards, shard_path, write_meta, write_shard


def _scene(seed: int, n: int = 30, e: int = 12) -> dict:
    rng = np.random.default_rng(seed)
    normals = rng.normal(size=(n, 3))
    return {"points": rng.random((n, 3)), "normals": normals / np.linalg.norm(normals, axis=1, keepdims=True),
            "edges": rng.integers(0, n, (e, 2)), "labels": rng.integers(0, 2, e), "scene_seed": 100 + seed}


def test_round_trip_keeps_values_and_dtypes(tmp_path):
    scenes = [_scene(0), _scene(1, n=17, e=0), _scene(2, n=50, e=40)]
    write_shard(shard_path(tmp_path, 0), scenes[:2])
    write_shard(shard_path(tmp_path, 1), scenes[2:])
    write_meta(tmp_path, source="test")
    back = read_shards(tmp_path)
    assert len(back) == 3
    for a, b in zip(scenes, back):
        assert b["points"].dtype == b["normals"].dtype == np.float32
        assert b["edges"].dtype == np.int32 and b["labels"].dtype == np.uint8
        np.testing.assert_allclose(b["points"], a["points"], rtol=1e-6)
        np.testing.assert_array_equal(b["edges"], a["edges"].reshape(-1, 2))
        np.testing.assert_array_equal(b["labels"], a["labels"])
        assert b["scene_seed"] == a["scene_seed"]


def test_shard_arrays_follow_the_documented_layout(tmp_path):
    path = write_shard(shard_path(tmp_path, 0), [_scene(0), _scene(1, n=17, e=5)])
    with np.load(path) as data:
        assert data["point_offsets"].tolist() == [0, 30, 47] and data["edge_offsets"].tolist() == [0, 12, 17]
        assert data["point_offsets"].dtype == data["edge_offsets"].dtype == data["scene_seeds"].dtype == np.int64
        assert data["points"].shape == (47, 3) and data["edges"].shape == (17, 2)


def test_writing_leaves_no_temporary_files(tmp_path):
    write_shard(shard_path(tmp_path, 0), [_scene(0)])
    assert [p.name for p in tmp_path.iterdir()] == ["shard-00000.npz"]


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        read_shards(tmp_path / "nowhere")


def test_folder_without_shards_is_a_clear_error(tmp_path):
    write_meta(tmp_path)
    with pytest.raises(ValueError, match="no shards"):
        read_shards(tmp_path)


def test_truncated_shard_is_a_clear_error(tmp_path):
    path = write_shard(shard_path(tmp_path, 0), [_scene(0)])
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(ValueError, match="truncated or corrupted"):
        read_shard(path)


def test_newer_format_is_refused(tmp_path):
    write_shard(shard_path(tmp_path, 0), [_scene(0)])
    (tmp_path / "meta.json").write_text(json.dumps({"format_version": FORMAT_VERSION + 1}))
    with pytest.raises(ValueError, match="newer"):
        read_shards(tmp_path)


@pytest.mark.parametrize("change, match", [
    ({"edges": np.array([[0, 99]])}, "outside"),
    ({"labels": np.array([0, 2] * 6)}, "labels"),
    ({"normals": np.zeros((3, 3))}, "normals"),
    ({"points": np.full((30, 3), np.nan)}, "finite"),
], ids=["edge-out-of-range", "label-not-binary", "normals-shape", "nan-points"])
def test_malformed_scenes_are_refused(tmp_path, change, match):
    scene = _scene(0)
    scene.update(change)
    if "edges" in change:
        scene["labels"] = np.zeros(len(change["edges"]))
    with pytest.raises(ValueError, match=match):
        write_shard(shard_path(tmp_path, 0), [scene])


def test_extra_depths_round_trip_and_old_shards_read_as_zeros(tmp_path):
    deep = _scene(0)
    deep["extra"] = np.linspace(0.0, 0.016, 12)
    write_shard(shard_path(tmp_path, 0), [deep, _scene(1, e=5)])
    write_shard(shard_path(tmp_path, 1), [_scene(2)])  # no extra anywhere: the array is not written
    back = read_shards(tmp_path)
    assert back[0]["extra"].dtype == np.float32
    np.testing.assert_allclose(back[0]["extra"], deep["extra"], rtol=1e-6)
    np.testing.assert_array_equal(back[1]["extra"], np.zeros(5))
    with np.load(shard_path(tmp_path, 1)) as data:
        assert "extra" not in data.files
    np.testing.assert_array_equal(back[2]["extra"], np.zeros(12))


@pytest.mark.parametrize("extra", [np.full(12, -0.004), np.zeros(3), np.full(12, np.nan)], ids=["negative", "shape", "nan"])
def test_bad_extra_depths_are_refused(tmp_path, extra):
    scene = _scene(0)
    scene["extra"] = extra
    with pytest.raises(ValueError, match="extra must be 12 finite depths"):
        write_shard(shard_path(tmp_path, 0), [scene])


def test_viewpoints_round_trip_and_shards_without_them_read_as_none(tmp_path):
    seen = [_scene(0), _scene(1)]
    for i, s in enumerate(seen):
        s["viewpoint"] = np.array([0.1 * i, -0.3, 0.52])
    write_shard(shard_path(tmp_path, 0), seen)
    write_shard(shard_path(tmp_path, 1), [_scene(2), {**_scene(3), "viewpoint": [0.0, 0.0, 0.6]}])  # not all: none kept
    back = read_shards(tmp_path)
    np.testing.assert_array_equal(back[0]["viewpoint"], [0.0, -0.3, 0.52])
    np.testing.assert_array_equal(back[1]["viewpoint"], [0.1, -0.3, 0.52])
    assert back[2]["viewpoint"] is None and back[3]["viewpoint"] is None
    with np.load(shard_path(tmp_path, 1)) as data:
        assert "viewpoints" not in data.files


@pytest.mark.parametrize("viewpoint", [[0.0, 1.0], [0.0, np.nan, 1.0]], ids=["shape", "nan"])
def test_bad_viewpoints_are_refused(tmp_path, viewpoint):
    with pytest.raises(ValueError, match="viewpoint must be a finite camera position"):
        write_shard(shard_path(tmp_path, 0), [{**_scene(0), "viewpoint": viewpoint}])
