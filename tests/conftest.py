"""Shared fixtures: the allocation ids come from Gymnasium's registry itself."""

from __future__ import annotations

import pytest

from edgecloud_gym.registration import allocation_env_ids


@pytest.fixture(params=allocation_env_ids())
def allocation_id(request: pytest.FixtureRequest) -> str:
    return request.param
