#!/usr/bin/env bash
# The lowest supported Gymnasium (1.0.0, pyproject: gymnasium>=1.0,<2): the tests of the env API,
# registration, the vector env, the action and episode-length handling and the metrics wrapper.
#
# A second venv reuses the first one's packages (.venv, built by .ci/run) through a .pth file and
# installs gymnasium==1.0.0 on top, which shadows the pinned release; nothing else is downloaded.
# The subset, not the whole suite: the agents, harness and forecasting tests use Gymnasium only
# through these envs, and running everything twice would double CI time.
#
# Usage: .ci/gymnasium_min.sh   (after .ci/run has built .venv)
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv-gymnasium-min
rm -rf "$venv"
python3 -m venv "$venv"
purelib() { "$1" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])"; }
echo "import site; site.addsitedir('$(purelib .venv/bin/python)')" \
    > "$(purelib "$venv/bin/python")/_edgecloud_base_env.pth"
"$venv/bin/python" -m pip install --quiet --no-deps gymnasium==1.0.0
"$venv/bin/python" -c "import gymnasium; assert gymnasium.__version__ == '1.0.0', gymnasium.__version__"
"$venv/bin/python" -m pytest -p no:cacheprovider -q \
    tests/test_env_api.py tests/test_vector_env.py tests/test_validation.py \
    tests/test_continuous_actions.py tests/test_env_metrics.py tests/test_offloading_envs.py
