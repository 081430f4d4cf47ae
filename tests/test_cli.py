"""The `equimanip` command line, run in a subprocess as a user would."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from equimanip.envs import env_ids


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "equimanip", *args], capture_output=True, text=True, timeout=600)
    if check and out.returncode != 0:
        raise AssertionError(f"exit {out.returncode}\nstdout:\n{out.stdout}\nstderr:\n{out.stderr}")
    return out


@pytest.mark.parametrize("command", [[], ["envs"], ["rollout"], ["demo"]], ids=lambda c: " ".join(c) or "main")
def test_help_explains_every_option(command):
    out = run(*command, "--help")
    assert "usage: equimanip" in out.stdout
    if command == ["rollout"]:
        for flag in ("--env", "--policy", "--episodes", "--seed", "--camera", "--video", "--json", "--option"):
            assert flag in out.stdout


def test_envs_lists_every_registered_environment(tmp_path):
    out = run("envs", "--json", str(tmp_path / "envs.json"))
    for env_id in env_ids():
        assert env_id in out.stdout
    data = json.loads((tmp_path / "envs.json").read_text())
    assert {row["id"] for row in data["environments"]} == set(env_ids())
    assert data["cameras"] == ["gripper_topdown", "fixed_topdown", "side"]


def test_rollout_writes_json_and_video(tmp_path):
    out = run("rollout", "--env", "equimanip/BlockPicking-v0", "--policy", "expert", "--episodes", "2", "--seed", "3",
              "--json", str(tmp_path / "r.json"), "--video", str(tmp_path / "r.mp4"), "--no-progress")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["success_rate"] == 1.0 and len(data["episodes"]) == 2
    assert [e["seed"] for e in data["episodes"]] == [3, 4]
    assert all(e["return"] == 1.0 and e["length"] > 0 for e in data["episodes"])
    assert (tmp_path / "r.mp4").stat().st_size > 1000
    assert "success 1.000" in out.stdout


def test_random_policy_rollout_with_options(tmp_path):
    run("rollout", "--env", "BlockPicking-v0", "--policy", "random", "--episodes", "1", "--camera", "side",
        "--option", "image_size=32", "--option", "dpos=0.02", "--json", str(tmp_path / "r.json"), "--no-progress")
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["env_options"] == {"image_size": 32, "dpos": 0.02, "camera": "side"}
    assert data["episodes"][0]["length"] == 50  # random actions do not solve it: the time limit ends it


@pytest.mark.parametrize("args,message", [
    (["rollout", "--env", "Nope-v0", "--episodes", "1"], "unknown environment"),
    (["rollout", "--env", "BlockPicking-v0", "--option", "colour=red", "--episodes", "1"], "unknown option"),
    (["rollout", "--env", "BlockPicking-v0", "--episodes", "0"], "episodes must be"),
    (["rollout", "--env", "BlockPicking-v0", "--policy", "smart"], "invalid choice"),
    (["rollout", "--env", "BlockPicking-v0", "--option", "novalue"], "KEY=VALUE"),
])
def test_bad_input_gives_a_clear_error_and_no_traceback(args, message):
    out = run(*args, check=False)
    assert out.returncode == 2
    assert message in out.stderr
    assert "Traceback" not in out.stderr
