#!/usr/bin/env bash
# Build a virtual environment with Ray RLlib and this checkout (editable), for the RLlib example
# (examples/rllib_ppo.py) and its slow test (tests/test_rllib.py).
#
# Why separate: ray[rllib] 2.60.0 requires gymnasium==1.2.2, while constraints.txt pins the
# newest Gymnasium (1.4.0) for the main environment. The package accepts every Gymnasium from 1.0,
# so this environment takes constraints.txt without its gymnasium pin and lets RLlib choose.
#
# Usage: scripts/build_rllib_env.sh [VENV_DIR]       (default: .venv-rllib)
# Environment: PYTHON (interpreter for the venv, default python3)
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${1:-.venv-rllib}"
python="${PYTHON:-python3}"

if [ -e "$venv" ]; then
    echo "build_rllib_env: $venv exists; remove it first or pass another folder." >&2
    exit 2
fi
work="$(mktemp -d)"
partial="$venv.partial.$$"
trap 'rm -rf "$work" "$partial"' EXIT

grep -v '^gymnasium==' constraints.txt > "$work/constraints.txt"

started=$(date +%s)
echo "== venv $venv ($("$python" --version))"
"$python" -m venv "$partial"
pip=("$partial/bin/python" -m pip)
"${pip[@]}" install --quiet --upgrade pip
echo "== edgecloud-gym[rllib] (editable) with constraints.txt less its gymnasium pin"
"${pip[@]}" install --quiet -c "$work/constraints.txt" -e ".[rllib]" "pytest>=8"

echo "== check"
"$partial/bin/python" - <<'PY'
import gymnasium, ray, torch
import edgecloud_gym
print(f"ray {ray.__version__}, gymnasium {gymnasium.__version__}, torch {torch.__version__}, "
      f"edgecloud_gym from {edgecloud_gym.__file__}")
PY
# Moved into place only when complete; the console scripts keep the old path in their shebangs,
# so use `VENV/bin/python -m ...`.
mv "$partial" "$venv"
trap 'rm -rf "$work"' EXIT
echo "== built $venv in $(( $(date +%s) - started )) s"
