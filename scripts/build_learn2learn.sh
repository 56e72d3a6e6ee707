#!/usr/bin/env bash
# Build learn2learn 0.2.0 into a separate virtual environment, the documented way.
#
# Why a script: learn2learn 0.2.0 does not install from PyPI on Python >= 3.11 (its sdist ships
# Cython-generated C that includes the removed header `longintrepr.h`), and `import learn2learn`
# runs the package's __init__, which imports learn2learn.vision (torchvision) and learn2learn.gym
# (the old `gym` package). torchvision imports on this platform only beside torch 2.14.1, which
# is why this environment is separate from the project's .venv (torch 2.13 CPU): nothing here
# touches the main environment.
#
# Steps: (1) a new venv with torch + torchvision that work together and learn2learn's import-time
# dependencies; (2) the learn2learn sdist from PyPI (`pip download --no-binary :all:`); (3) the
# three .pyx files of learn2learn.data re-generated with `cython -3`; (4) `pip install --no-deps
# --no-build-isolation` of that source; (5) an import check of learn2learn.algorithms.MAML.
#
# Usage: scripts/build_learn2learn.sh [VENV_DIR]       (default: .venv-l2l)
# Environment: PYTHON (interpreter for the venv, default python3),
#              L2L_TORCH (torch/torchvision requirement, default "torch==2.14.1 torchvision==0.29.1")
set -euo pipefail

venv="${1:-.venv-l2l}"
python="${PYTHON:-python3}"
torch_spec="${L2L_TORCH:-torch==2.14.1 torchvision==0.29.1}"
l2l_version="0.2.0"

if [ -e "$venv" ]; then
    echo "build_learn2learn: $venv exists; remove it first or pass another folder." >&2
    exit 2
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "== venv $venv ($("$python" --version))"
"$python" -m venv "$venv"
pip=("$venv/bin/python" -m pip)
"${pip[@]}" install --quiet --upgrade pip "setuptools>=68,<81" wheel

echo "== torch/torchvision ($torch_spec) and learn2learn's import-time dependencies"
# shellcheck disable=SC2086  # torch_spec is a list of requirements
"${pip[@]}" install --quiet $torch_spec numpy scipy "gym==0.26.2" requests tqdm pillow \
    "cython>=3" pytest
echo "== the edgecloud-gym runtime dependencies (the package itself is installed per run)"
"${pip[@]}" install --quiet "gymnasium>=1.0,<2" "numba>=0.59"

echo "== learn2learn $l2l_version sdist"
"${pip[@]}" download --quiet --no-deps --no-binary :all: --no-build-isolation \
    "learn2learn==$l2l_version" -d "$work"
tar -xzf "$work/learn2learn-$l2l_version.tar.gz" -C "$work"
src="$work/learn2learn-$l2l_version"

echo "== cython -3 on learn2learn/data/*.pyx"
for name in meta_dataset task_dataset transforms; do
    "$venv/bin/cython" -3 "$src/learn2learn/data/$name.pyx" -o "$src/learn2learn/data/$name.c"
done

echo "== install learn2learn (no deps, no build isolation)"
"${pip[@]}" install --quiet --no-deps --no-build-isolation "$src"

echo "== check"
"$venv/bin/python" - <<'PY'
import learn2learn
from learn2learn.algorithms import MAML
import torch, torchvision
print(f"learn2learn {learn2learn.__version__}, torch {torch.__version__}, "
      f"torchvision {torchvision.__version__}: MAML at {MAML.__module__}")
PY
