"""Files record the model version that made them and are refused on another one."""

from __future__ import annotations

import json
import shutil

import pytest

from edgecloud_gym import MODEL_VERSION
from edgecloud_gym.forecasting.lstm import DEFAULT_WEIGHTS, load_weights
from edgecloud_gym.model_version import ModelVersionError, check_model_version


def test_check_names_the_file_and_both_versions():
    check_model_version(MODEL_VERSION, "x")
    # files from before versions were recorded are model v0, refused by model v1
    with pytest.raises(ModelVersionError, match=r"an old file was made on model version 0"):
        check_model_version(None, "an old file")
    with pytest.raises(ModelVersionError, match=r"run file a\.json was made on model version 7"):
        check_model_version(7, "run file a.json")


def test_lstm_weights_of_another_model_are_refused(tmp_path):
    _, meta = load_weights()
    assert meta["model_version"] == MODEL_VERSION
    weights = tmp_path / "lstm.npz"
    shutil.copy(DEFAULT_WEIGHTS, weights)
    meta["model_version"] = MODEL_VERSION + 1
    (tmp_path / "lstm.json").write_text(json.dumps(meta))
    with pytest.raises(ModelVersionError, match=r"LSTM weights .*lstm\.npz was made on model"):
        load_weights(weights)


def test_run_files_of_another_model_are_refused(tmp_path):
    from edgecloud_bench.run import RUN_FORMAT, read_run

    path = tmp_path / "run.json"
    record = {"format": RUN_FORMAT, "model_version": MODEL_VERSION + 1, "spec": {},
              "metrics": {}, "episodes": []}  # fmt: skip
    path.write_text(json.dumps(record))
    with pytest.raises(ModelVersionError, match=r"run file .*run\.json was made on model version"):
        read_run(path)
    record["model_version"] = MODEL_VERSION
    path.write_text(json.dumps(record))
    assert read_run(path)["model_version"] == MODEL_VERSION
