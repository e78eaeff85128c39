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
# PYTHON, LEROBOT_ENV: see env.sh.
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/real_lerobot/env.sh
"$env_dir/bin/python" -m pytest -q tests/test_dropin.py tests/test_lerobot_compat.py
