#!/usr/bin/env bash
# Run LeRobot's own tests twice in the scratch environment (env.sh) - as they are, and with `lerobot.` swapped
# to `lerobot_stream.` wherever lerobot_stream provides the name (swap_prefix.py) - and print how many pass,
# which areas the failures belong to, and every in-scope test that passes as is and fails swapped
# (suite_report.py). Not part of the default test run: LeRobot brings torch (~5 GB) and the two runs take
# several minutes.
#
#   bash tests/real_lerobot/lerobot_suite.sh                        # LeRobot 0.6.1 (needs Python 3.12)
#   LEROBOT_SRC=~/src/lerobot bash tests/real_lerobot/lerobot_suite.sh
#
# LeRobot's tests are not in its wheel or sdist: LEROBOT_SRC is a git clone of huggingface/lerobot (default:
# cloned into .lerobot-src); the tag v<version> is taken from it. Results: .lerobot-suite-<version>/ (the
# JUnit reports, report.json). Extra arguments go to pytest (e.g. -k, -x).
set -euo pipefail
cd "$(dirname "$0")/../.."
source tests/real_lerobot/env.sh
src="${LEROBOT_SRC:-.lerobot-src}"
[ -d "$src" ] || git clone -q --filter=blob:none https://github.com/huggingface/lerobot "$src"
work=".lerobot-suite-$version"
rm -rf "$work"
mkdir -p "$work/as_is" "$work/swapped"
git -C "$src" archive "v$version" tests | tar x -C "$work/as_is"
git -C "$src" archive "v$version" tests | tar x -C "$work/swapped"
# An empty pytest.ini: pytest must not take this repository's pyproject.toml (its timeouts, its test paths).
printf '[pytest]\n' | tee "$work/as_is/pytest.ini" > "$work/swapped/pytest.ini"
"$env_dir/bin/python" tests/real_lerobot/swap_prefix.py "$work/swapped/tests"
# tests/datasets and every other test file that imports LeRobot's dataset or video-config modules.
selection=$(cd "$work/as_is" && { echo tests/datasets; grep -rlE "lerobot\.(datasets|configs\.video)" tests \
  --include='test_*.py' | grep -v '^tests/datasets/'; } | sort -u)
for run in as_is swapped; do
  echo "== LeRobot $version's tests, $run"
  (cd "$work/$run" && "../../$env_dir/bin/python" -m pytest -q -p no:cacheprovider --timeout 300 \
    --junitxml=../$run.xml $selection "$@" | tail -n 1) || true
done
"$env_dir/bin/python" tests/real_lerobot/suite_report.py "$work/as_is.xml" "$work/swapped.xml" \
  --json "$work/report.json"
