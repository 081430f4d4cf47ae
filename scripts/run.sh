#!/usr/bin/env bash
# The README's two commands, and a few more. Idempotent set-up on a fresh Debian 12 / Python 3.11:
# Debian packages when missing, a .venv, pinned pip packages (constraints.txt), then the job.
#
#   bash scripts/run.sh demo        # the main job: a few-demo imitation experiment (SEIL vs BC)
#   bash scripts/run.sh test        # the default test suite (what CI runs)
#   bash scripts/run.sh test-slow   # long checks (expert success over 100 seeds per task)
#   bash scripts/run.sh bench       # benchmarks -> docs/benchmarks/
#   bash scripts/run.sh setup       # only the set-up
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
VENV=.venv
DEB_PACKAGES=()

# -- Debian packages -----------------------------------------------------------------------------
"$PYTHON" -c "import ensurepip, venv" 2>/dev/null || DEB_PACKAGES+=(python3-venv)
DEB_PACKAGES+=(gfortran)  # builds py3nj (escnn's Wigner symbols)
DEB_PACKAGES+=(libusb-1.0-0)  # open3d imports it
# the ROS 1 bridge (equimanip.ros): a real roscore, rospy and the message packages, from Debian 12
DEB_PACKAGES+=(ros-core python3-rospy python3-sensor-msgs python3-geometry-msgs python3-std-msgs python3-visualization-msgs
              python3-actionlib python3-actionlib-msgs python3-tf2-msgs)

install_debian_packages() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local cmd="apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq ${missing[*]}"
  if [ "$(id -u)" = 0 ]; then
    bash -c "$cmd"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    sudo bash -c "$cmd"
  else
    echo "equimanip set-up needs Debian packages: ${missing[*]}. Run as root:" >&2
    echo "  $cmd" >&2
    exit 1
  fi
}
[ ${#DEB_PACKAGES[@]} -eq 0 ] || install_debian_packages "${DEB_PACKAGES[@]}"

# -- virtual environment and pinned pip packages ------------------------------------------------
stamp_of() { cat pyproject.toml constraints.txt scripts/run.sh | sha256sum | cut -d' ' -f1; }
if [ ! -x "$VENV/bin/python" ]; then
  "$PYTHON" -m venv "$VENV"
fi
if [ "$(cat "$VENV/.equimanip-stamp" 2>/dev/null)" != "$(stamp_of)" ]; then
  echo "equimanip: installing pinned packages into $VENV (torch 2.13.0, CPU build here; see README for CUDA)"
  log="$VENV/install.log"
  {
    "$VENV/bin/python" -m pip install --upgrade pip "setuptools==$(grep '^setuptools==' constraints.txt | cut -d= -f3)" &&
    # torch first and alone, so a CUDA build installed by the user is kept (== matches 2.13.0+cu*)
    "$VENV/bin/python" -m pip install -c constraints.txt torch==2.13.0 &&
    "$VENV/bin/python" -m pip install -c constraints.txt -e ".[test]"
  } > "$log" 2>&1 || { tail -n 40 "$log" >&2; echo "equimanip: pip install failed; full log: $log" >&2; exit 1; }
  stamp_of > "$VENV/.equimanip-stamp"
fi
# Debian's rospy lives in /usr/lib/python3/dist-packages. A .pth line *appends* that folder to the
# venv's sys.path, so pip's numpy/torch/... still win (PYTHONPATH would put Debian's first).
ros_pth="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/equimanip-debian-ros.pth"
[ -f "$ros_pth" ] || echo /usr/lib/python3/dist-packages > "$ros_pth"
export PATH="$PWD/$VENV/bin:$PATH"

# -- the job ------------------------------------------------------------------------------------
job=${1:-test}
shift || true
case "$job" in
  setup) ;;
  demo) equimanip experiment "$@" ;;
  expert-demo) equimanip demo "$@" ;;
  test) pytest -n auto -m "not slow" "$@" ;;
  test-slow) pytest -n auto -m slow "$@" ;;
  bench) python scripts/bench_envs.py "$@" ;;
  *) echo "usage: bash scripts/run.sh [setup|demo|expert-demo|test|test-slow|bench] [extra args]" >&2; exit 2 ;;
esac
