"""`equimanip train rl` and `equimanip eval` through the CLI in subprocesses: outputs, crash and
resume, and bad input (nothing overwritten)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

TINY = ["--group", "C4", "--n-hidden", "16", "--option", "image_size=32", "--eval-episodes", "2",
        "--demos", "1", "--batch-size", "16", "--no-progress"]


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    out = subprocess.run([sys.executable, "-m", "equimanip", *args], capture_output=True, text=True, timeout=900)
    if check and out.returncode != 0:
        raise AssertionError(f"exit {out.returncode}\n{out.stdout}\n{out.stderr}")
    return out


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "picking"
    cli("train", "rl", "--env", "BlockPicking-v0", "--algo", "sacfd", "--policy", "equi", "--steps", "100",
        "--eval-every", "50", "--checkpoint-every", "50", "--seed", "1", "--out", str(run), *TINY)
    return run


def test_a_run_writes_everything_users_expect(trained_run):
    for name in ("config.json", "eval.csv", "model.zip", "curve.png", "eval.mp4", "summary.json", "demos.json",
                 "checkpoint/model.zip", "checkpoint/replay_buffer.pkl"):
        assert (trained_run / name).exists(), name
    assert any((trained_run / "tb").rglob("events.out.tfevents.*")), "no TensorBoard log"
    config = json.loads((trained_run / "config.json").read_text())
    assert config["env"] == "equimanip/BlockPicking-v0" and config["seed"] == 1 and config["group"] == "C4"
    rows = (trained_run / "eval.csv").read_text().splitlines()
    assert rows[0].startswith("steps,success_rate") and [r.split(",")[0] for r in rows[1:]] == ["50", "100"]
    summary = json.loads((trained_run / "summary.json").read_text())
    assert summary["num_timesteps"] == 100 and summary["precision"] in ("fp32", "bf16")
    last = rows[-1].split(",")  # the final evaluation is the last periodic one (run once, with the video)
    assert summary["final_eval"]["success_rate"] == float(last[1]) and summary["final_eval"]["episodes"] == 2


def test_eval_loads_the_run(trained_run, tmp_path):
    out = cli("eval", "--run", str(trained_run), "--env", "equimanip/BlockPicking-v0", "--episodes", "2", "--seed", "5",
              "--json", str(tmp_path / "e.json"))
    data = json.loads((tmp_path / "e.json").read_text())
    assert 0.0 <= data["success_rate"] <= 1.0 and data["episodes"] == 2 and data["seeds"] == [5, 6]
    assert "success" in out.stdout


def test_a_crashed_run_resumes_from_its_checkpoint(tmp_path):
    run = tmp_path / "crash"
    args = [sys.executable, "-m", "equimanip", "train", "rl", "--env", "BlockPicking-v0", "--algo", "sac",
            "--policy", "cnn", "--steps", "160", "--eval-every", "80", "--checkpoint-every", "40", "--out", str(run), *TINY]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    state = run / "checkpoint" / "state.json"
    deadline = time.time() + 300
    while time.time() < deadline and not (state.exists() and json.loads(state.read_text())["num_timesteps"] >= 40):
        time.sleep(0.2)
        assert proc.poll() is None, "the run ended before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)  # a crash: no clean shutdown
    proc.wait()
    crashed_at = json.loads(state.read_text())["num_timesteps"]
    assert 40 <= crashed_at < 160 and not (run / "model.zip").exists()
    cli("train", "rl", "--env", "BlockPicking-v0", "--out", str(run), "--resume", "--no-progress")
    summary = json.loads((run / "summary.json").read_text())
    assert summary["num_timesteps"] == 160
    steps = [r.split(",")[0] for r in (run / "eval.csv").read_text().splitlines()[1:]]
    assert steps[-1] == "160" and len(steps) == len(set(steps)) and all(s.isdigit() for s in steps)


@pytest.mark.parametrize("args,message", [
    (["--env", "BlockPicking-v0", "--algo", "ppo"], "invalid choice"),
    (["--env", "BlockPicking-v0", "--policy", "mlp"], "invalid choice"),
    (["--env", "BlockPicking-v0", "--group", "X7"], "accepted"),
    (["--env", "ClutterGrasping-v0", "--group", "D4"], "not a symmetry"),
    (["--env", "Nope-v0"], "unknown environment"),
    (["--env", "BlockPicking-v0", "--steps", "0"], "steps must be"),
    (["--env", "BlockPicking-v0", "--precision", "fp16"], "invalid choice"),
])
def test_bad_training_input(args, message, tmp_path):
    out = cli("train", "rl", *args, "--out", str(tmp_path / "r"), check=False)
    assert out.returncode == 2 and message in out.stderr and "Traceback" not in out.stderr
    assert not (tmp_path / "r").exists() or message == "invalid choice"


def test_an_existing_run_is_never_overwritten(trained_run):
    before = (trained_run / "model.zip").read_bytes()
    out = cli("train", "rl", "--env", "BlockPicking-v0", "--out", str(trained_run), check=False)
    assert out.returncode == 2 and "not empty" in out.stderr
    out = cli("train", "rl", "--env", "BlockPushing-v0", "--out", str(trained_run), "--resume", check=False)
    assert out.returncode == 2 and "is a run of equimanip/BlockPicking-v0" in out.stderr
    out = cli("eval", "--run", str(trained_run), "--env", "BlockPushing-v0", check=False)
    assert out.returncode == 2 and "trained on" in out.stderr
    assert (trained_run / "model.zip").read_bytes() == before


def test_a_corrupted_checkpoint_is_a_clear_error(trained_run, tmp_path):
    import shutil

    run = tmp_path / "corrupt"
    shutil.copytree(trained_run, run)
    (run / "checkpoint" / "model.zip").write_bytes(b"not a zip")
    out = cli("train", "rl", "--env", "BlockPicking-v0", "--out", str(run), "--resume", check=False)
    assert out.returncode == 2 and "corrupted" in out.stderr and "Traceback" not in out.stderr


def test_a_config_file_with_an_unknown_precision_is_a_clear_error():
    from equimanip.agents.train_rl import RLConfig

    with pytest.raises(ValueError, match="unknown precision 'half'; accepted: auto, fp32, bf16"):
        RLConfig(env="BlockPicking-v0", precision="half").validate()
