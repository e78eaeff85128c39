#!/usr/bin/env bash
# Check lerobot_stream against the real LeRobot in a scratch environment (not part of the default test run:
# LeRobot brings torch and torchcodec, ~5 GB). It runs tests/test_dropin.py (LeRobot's own recorder with our
# encoder plugged in; our RGB and depth datasets read by LeRobot's own reader) and tests/test_lerobot_compat.py.
#
#   bash tests/real_lerobot/run.sh                       # LeRobot 0.6.1 (needs Python 3.12)
#   LEROBOT_VERSION=0.5.1 bash tests/real_lerobot/run.sh # LeRobot 0.5.1
#
# LeRobot's default video decoder, torchcodec, needs FFmpeg's shared libraries (Debian 12: apt-get install
# libavcodec59 libavformat59 libavutil57 libswscale6 libavdevice59 libavfilter8); where they are missing only its
# PyAV decoder is checked.
#
# PYTHON picks the interpreter (default: python3.12, found through pyenv if it is not on PATH); LEROBOT_ENV
# the environment's folder (default: .venv-lerobot-<version>, kept between runs).
set -euo pipefail
cd "$(dirname "$0")/../.."
version="${LEROBOT_VERSION:-0.6.1}"
python="${PYTHON:-}"
if [ -z "$python" ]; then
  python=$(command -v python3.12 2>/dev/null || true)
  if ! "$python" --version >/dev/null 2>&1 && command -v pyenv >/dev/null; then
    python=$(PYENV_VERSION=$(pyenv versions --bare | grep '^3\.12' | head -n 1) pyenv which python3.12)
  fi
fi
env_dir="${LEROBOT_ENV:-.venv-lerobot-$version}"
[ -x "$env_dir/bin/python" ] || "$python" -m venv "$env_dir"
"$env_dir/bin/pip" install -q "lerobot[dataset]==$version" -e ".[test]"
"$env_dir/bin/python" -m pytest -q tests/test_dropin.py tests/test_lerobot_compat.py
