"""Grasp data generation (`equimanip grasp generate`) and the benchmark CLI (`equimanip grasp eval`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from equimanip.agents.grasp_data import GenerateConfig, generate, shard_path
from equimanip.agents.grasp_dataset import read_shard as read_shards_file
from equimanip.agents.grasp_dataset import read_shards, write_shard

TINY = dict(scene="packed", scenes=2, grasps_per_scene=8, num_approach=32, shard_size=1, num_objects=3, seed=1)


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "equimanip", *args], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    out = tmp_path_factory.mktemp("grasp") / "data"
    summary = generate(GenerateConfig(**TINY), out, progress=False)
    return out, summary


def test_generate_labels_grasps_by_simulation(tiny_data):
    out, summary = tiny_data
    scenes = read_shards(out)
    assert len(scenes) == 2 and summary["new_shards"] == 2
    for scene in scenes:
        assert scene["points"].shape[1] == 3 and scene["normals"].shape == scene["points"].shape
        assert len(scene["edges"]) == len(scene["labels"]) <= 8
        assert set(np.unique(scene["labels"])) <= {0, 1}
    assert sum(len(s["labels"]) for s in scenes) > 0
    for scene in scenes:  # where each scene was seen from: 60 cm from the workspace centre, 30° off vertical
        eye = scene["viewpoint"]
        assert np.linalg.norm(eye) == pytest.approx(0.6) and eye[2] == pytest.approx(0.6 * np.cos(np.pi / 6))


def test_viewpoints_of_older_data_are_rebuilt_from_the_scene_seeds(tiny_data, tmp_path):
    import shutil

    out, _ = tiny_data
    old = tmp_path / "old"
    shutil.copytree(out, old)
    for shard in sorted(old.glob("shard-*.npz")):  # as the generator wrote them before viewpoints were kept
        write_shard(shard, [{**s, "viewpoint": None} for s in read_shards_file(shard)])
    assert all(s["viewpoint"] is None for s in read_shards(old))
    done = subprocess.run([sys.executable, "scripts/grasp_add_viewpoints.py", str(old)], capture_output=True, text=True,
                          timeout=300, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 0, done.stderr
    assert "viewpoints added to 2 scenes" in done.stdout
    for a, b in zip(read_shards(out), read_shards(old)):
        np.testing.assert_array_equal(a["viewpoint"], b["viewpoint"])
        np.testing.assert_array_equal(a["labels"], b["labels"])
    # a scene that does not rebuild to its stored cloud is refused, and its shard is left as it was
    shard = sorted(old.glob("shard-*.npz"))[0]
    scenes = read_shards_file(shard)
    write_shard(shard, [{**s, "viewpoint": None, "points": s["points"] + 0.001} for s in scenes])
    failed = subprocess.run([sys.executable, "scripts/grasp_add_viewpoints.py", str(old)], capture_output=True, text=True,
                            timeout=300, cwd=Path(__file__).resolve().parents[1])
    assert failed.returncode != 0 and "does not rebuild to the stored cloud" in failed.stderr
    assert read_shards_file(shard)[0]["viewpoint"] is None


def test_generate_resumes_without_recomputing(tiny_data, tmp_path):
    out, _ = tiny_data
    before = {p: p.stat().st_mtime_ns for p in out.glob("shard-*.npz")}
    again = generate(GenerateConfig(**TINY), out, progress=False)
    assert again["new_shards"] == 0 and {p: p.stat().st_mtime_ns for p in out.glob("shard-*.npz")} == before


def test_interrupted_generation_completes_with_the_same_data(tiny_data, tmp_path):
    out, _ = tiny_data
    partial = tmp_path / "partial"
    generate(GenerateConfig(**TINY), partial, progress=False)
    shard_path(partial, 1).unlink()  # as if the run died before its second shard was committed
    (partial / ".shard-00001.npz.tmp").write_bytes(b"half a file")  # a temp file left by the crash
    summary = generate(GenerateConfig(**TINY), partial, progress=False)
    assert summary["new_shards"] == 1
    for a, b in zip(read_shards(out), read_shards(partial)):
        np.testing.assert_array_equal(a["points"], b["points"])
        np.testing.assert_array_equal(a["labels"], b["labels"])


@pytest.mark.parametrize("how", [{"workers": 2}, {"ray_address": "local"}], ids=["two-processes", "ray"])
def test_parallel_generation_gives_the_same_data(tiny_data, tmp_path, how):
    out, _ = tiny_data
    generate(GenerateConfig(**TINY), tmp_path / "data", progress=False, **how)
    for a, b in zip(read_shards(out), read_shards(tmp_path / "data"), strict=True):
        for key in ("points", "edges", "labels"):
            np.testing.assert_array_equal(a[key], b[key])


def test_generate_refuses_other_settings(tiny_data):
    out, _ = tiny_data
    with pytest.raises(ValueError, match="other settings"):
        generate(GenerateConfig(**{**TINY, "grasps_per_scene": 16}), out, progress=False)


def test_labels_follow_the_evaluation_rule_unless_told_otherwise(tiny_data, tmp_path):
    """The same candidates, labelled with the approach-contact rule of VGN's data generation: every
    attempt that succeeds under it also succeeds when the hand may close where it stopped."""
    out, _ = tiny_data
    generate(GenerateConfig(**TINY, allow_contact=False), tmp_path / "strict", progress=False)
    closes, strict = read_shards(out), read_shards(tmp_path / "strict")
    for a, b in zip(closes, strict, strict=True):
        np.testing.assert_array_equal(a["edges"], b["edges"])
        assert (a["labels"] >= b["labels"]).all()
    # these scenes have attempts whose approach touches an object and that hold it all the same
    assert sum(int(s["labels"].sum()) for s in closes) > sum(int(s["labels"].sum()) for s in strict)


def test_data_from_before_flat_grasps_resumes_only_without_them(tiny_data, tmp_path):
    """A meta.json written before the ``flat_grasps`` and ``allow_contact`` fields was made without
    flat grasps and with strict labels: resuming it asks for ``--no-flat-grasps
    --fail-on-approach-contact``, not for a silent mix."""
    out, _ = tiny_data
    old = tmp_path / "old"
    old.mkdir()
    for f in out.iterdir():
        (old / f.name).write_bytes(f.read_bytes())
    meta = json.loads((old / "meta.json").read_text())
    del meta["config"]["flat_grasps"], meta["config"]["allow_contact"], meta["config"]["fill_columns"]
    (old / "meta.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="other settings"):
        generate(GenerateConfig(**TINY), old, progress=False)
    with pytest.raises(ValueError, match="other settings"):
        generate(GenerateConfig(**TINY, flat_grasps=False), old, progress=False)
    assert generate(GenerateConfig(**TINY, flat_grasps=False, allow_contact=False), old, progress=False)["new_shards"] == 0


@pytest.mark.parametrize("args, message", [
    (["grasp", "generate", "--scenes", "1", "--objects", "/nonexistent"], "neither a folder"),
    (["grasp", "generate", "--scenes", "0"], "scenes must be"),
    (["grasp", "generate", "--scenes", "1", "--workers", "0"], "workers must be"),
    (["grasp", "eval", "--detector", "no-such-model", "--rounds", "1", "--seeds", "0"], "no grasp detector"),
    (["grasp", "eval", "--detector", "heuristic", "--rounds", "0", "--seeds", "0"], "rounds ≥ 1"),
], ids=["objects", "scenes", "workers", "detector", "rounds"])
def test_grasp_cli_bad_input_is_a_one_line_error(args, message, tmp_path, capsys):
    from equimanip.cli import main

    if args[1] == "generate":
        args = [*args, "--out", str(tmp_path / "d"), "--no-progress"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


def test_truncated_shard_is_a_clear_error(tmp_path):
    write_shard(tmp_path / "shard-00000.npz", [{"points": np.zeros((3, 3)), "normals": np.zeros((3, 3)),
                                                "edges": np.zeros((0, 2), np.int32), "labels": np.zeros(0, np.uint8),
                                                "scene_seed": 0}])
    data = (tmp_path / "shard-00000.npz").read_bytes()
    (tmp_path / "shard-00000.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="truncated or corrupted shard"):
        read_shards(tmp_path)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="no shard"):
        read_shards(tmp_path / "empty")


def test_eval_cli_writes_gsr_dr_and_the_round_log(tmp_path):
    out = tmp_path / "eval.json"
    run = cli("grasp", "eval", "--detector", "heuristic", "--scene", "packed", "--rounds", "1", "--seeds", "0", "1",
              "--num-objects", "2", "--json", str(out), "--no-progress")
    assert run.returncode == 0, run.stderr
    result = json.loads(out.read_text())
    assert set(result["per_seed"]) == {"0", "1"} and len(result["rounds_log"]) == 2
    assert result["attempts"] == sum(len(r["attempts"]) for r in result["rounds_log"])
    successes = sum(a["success"] for r in result["rounds_log"] for a in r["attempts"])
    per_seed = result["per_seed"]
    assert successes == sum(v["successes"] for v in per_seed.values())
    assert 0.0 <= result["gsr"]["mean"] <= 1.0 and 0.0 <= result["dr"]["mean"] <= 1.0
    assert "GSR" in run.stdout


def test_generate_train_eval_through_the_cli(tmp_path, capsys):
    """The user's pipeline end to end on a tiny scene: data -> a few training steps -> benchmark."""
    from equimanip.cli import main

    # strict labels: under the evaluation's rule all 16 grasps of these scenes hold, and training refuses one class
    data = tmp_path / "data"
    generate = cli("grasp", "generate", "--scene", "packed", "--scenes", "2", "--grasps-per-scene", "8", "--num-approach",
                   "32", "--shard-size", "1", "--num-objects", "3", "--seed", "1", "--fail-on-approach-contact",
                   "--out", str(data), "--no-progress")
    assert generate.returncode == 0, generate.stderr
    run = tmp_path / "run"
    train = cli("grasp", "train", "--data", str(data), "--model", "edge", "--out", str(run), "--steps", "2",
                "--batch-scenes", "1", "--edges-per-scene", "4", "--val-every", "2", "--checkpoint-every", "2",
                "--no-progress")
    assert train.returncode == 0, train.stderr
    assert (run / "model.pt").is_file()
    out = tmp_path / "eval.json"
    assert main(["grasp", "eval", "--detector", str(run / "model.pt"), "--scene", "packed", "--rounds", "1",
                 "--seeds", "0", "--num-objects", "2", "--json", str(out), "--no-progress"]) == 0
    result = json.loads(out.read_text())
    assert result["detector"] == str(run / "model.pt") and result["rounds"] == 1
    assert "GSR" in capsys.readouterr().out


def test_generate_with_deepen_labels_deeper_hands_and_records_their_depth(tmp_path):
    out = tmp_path / "deep"
    generate(GenerateConfig(**{**TINY, "grasps_per_scene": 24, "deepen": 0.008}), out, progress=False)
    extra = np.concatenate([s["extra"] for s in read_shards(out)])
    assert len(extra) > 0 and set(np.round(extra.astype(float), 6)) <= {0.0, 0.004, 0.008} and (extra > 0).any()
    assert json.loads((out / "meta.json").read_text())["config"]["deepen"] == 0.008
    with pytest.raises(ValueError, match="deepen must lie in"):
        GenerateConfig(**{**TINY, "deepen": -0.01})
