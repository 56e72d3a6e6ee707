"""edgecloud-gym: Gymnasium environments for learning-based edge-cloud resource allocation and
task offloading.

``import edgecloud_gym`` registers every environment id; then ``gym.make("EdgeCloud-High-v0")``.
Without the import, ``gym.make("edgecloud_gym:EdgeCloud-High-v0")`` imports it for you.
"""

from edgecloud_gym.config import AppClass, EdgeCloudConfig, RewardWeights, Topology
from edgecloud_gym.envs import EdgeCloudEnv
from edgecloud_gym.model_version import MODEL_VERSION
from edgecloud_gym.registration import ALLOCATION_IDS, register_envs
from edgecloud_gym.tasks import HIGH, LOW, MEDIUM, SCENARIOS, Task, test_tasks, train_tasks

__version__ = "0.1.0"

__all__ = [
    "ALLOCATION_IDS",
    "HIGH",
    "LOW",
    "MEDIUM",
    "MODEL_VERSION",
    "SCENARIOS",
    "AppClass",
    "EdgeCloudConfig",
    "EdgeCloudEnv",
    "RewardWeights",
    "Task",
    "Topology",
    "__version__",
    "register_envs",
    "test_tasks",
    "train_tasks",
]

register_envs()
