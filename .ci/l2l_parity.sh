#!/usr/bin/env bash
# MAML parity with learn2learn: build (or reuse) the learn2learn environment, run the parity test.
#
# The environment is built by scripts/build_learn2learn.sh into a cache folder outside the clone,
# keyed by a hash of that script, so a later run on the same machine reuses it and a change to the
# script rebuilds it. Older keys are removed. Measured on the 2-core machine: 2.5-4.5 min and
# 5.9 GB cold (torch 2.14.1 + torchvision 0.29.1 from the local wheel store; the longer time with
# the other core busy), about 30 s warm.
#
# Usage: .ci/l2l_parity.sh            Environment: L2L_CACHE (cache root, default below)
set -euo pipefail
cd "$(dirname "$0")/.."

cache_root="${L2L_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/edgecloud-gym}"
key="$(sha256sum scripts/build_learn2learn.sh | cut -c1-16)"
venv="$cache_root/venv-l2l-$key"
mkdir -p "$cache_root"

if [ ! -x "$venv/bin/python" ]; then
    echo "l2l_parity: building $venv (cold)"
    for old in "$cache_root"/venv-l2l-*; do
        [ -e "$old" ] && [ "$old" != "$venv" ] && rm -rf "$old"
    done
    partial="$venv.partial.$$"
    trap 'rm -rf "$partial"' EXIT
    rm -rf "$partial"
    bash scripts/build_learn2learn.sh "$partial"
    # Moved into place only when complete. The venv's console scripts keep the old path in their
    # shebangs, so everything below runs as `python -m ...`.
    mv "$partial" "$venv"
    trap - EXIT
else
    echo "l2l_parity: reusing $venv (warm)"
fi

# This checkout's package, installed fresh each run (no dependencies: they are in the cache).
"$venv/bin/python" -m pip install --quiet --no-deps --no-build-isolation --force-reinstall .
"$venv/bin/python" -W ignore -c "
from edgecloud_agents.maml import learn2learn_available
import sys
sys.exit(0 if learn2learn_available() else 'learn2learn does not import in $venv')
"
"$venv/bin/python" -m pytest -p no:cacheprovider -q -rs tests/test_maml_parity.py tests/test_maml.py
