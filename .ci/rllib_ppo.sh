#!/usr/bin/env bash
# RLlib PPO on an allocation id: build (or reuse) the RLlib environment, run its slow tests.
#
# The environment is built by scripts/build_rllib_env.sh into a cache folder outside the clone,
# keyed by a hash of that script, pyproject.toml and constraints.txt, so a later run on the same
# machine reuses it and a change to any of them rebuilds it. Older keys are removed. Measured on
# the 2-core machine with the other core busy: about 3 min cold, then about 1 min for the tests.
#
# Usage: .ci/rllib_ppo.sh            Environment: RLLIB_CACHE (cache root, default below)
set -euo pipefail
cd "$(dirname "$0")/.."

cache_root="${RLLIB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edgecloud-gym}"
key="$(cat scripts/build_rllib_env.sh pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
venv="$cache_root/venv-rllib-$key"
mkdir -p "$cache_root"

if [ ! -x "$venv/bin/python" ]; then
    echo "rllib_ppo: building $venv (cold)"
    for old in "$cache_root"/venv-rllib-*; do
        [ -e "$old" ] && [ "$old" != "$venv" ] && rm -rf "$old"
    done
    bash scripts/build_rllib_env.sh "$venv"
else
    echo "rllib_ppo: reusing $venv (warm)"
fi

# The cached environment's editable install points at the clone that built it: point it here.
"$venv/bin/python" -m pip install --quiet --no-deps -e .
EDGECLOUD_RLLIB_PYTHON="$venv/bin/python" python -m pytest -p no:cacheprovider -q -rs -m slow \
    tests/test_rllib.py
