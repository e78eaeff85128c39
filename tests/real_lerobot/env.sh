# Sourced by run.sh and lerobot_suite.sh: the scratch environment with the real LeRobot and lerobot_stream.
# Sets $version, $env_dir; PYTHON picks the interpreter (default: python3.12, found through pyenv if it is not
# on PATH); LEROBOT_ENV the environment's folder (default: .venv-lerobot-<version>, kept between runs).
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
case "$version" in
  0.5.*) lerobot="lerobot==$version" ;;  # its dataset dependencies are core ones; the extra came with 0.6
  *) lerobot="lerobot[dataset]==$version" ;;
esac
"$env_dir/bin/pip" install -q "$lerobot" -e ".[test]"
