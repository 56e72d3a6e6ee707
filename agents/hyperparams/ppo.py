"""``ppo.yml`` as a module, for rl_zoo3's ``-conf edgecloud_agents.hyperparams.ppo``."""

from edgecloud_agents.hyperparams import read_table

#: Env id -> settings, as in the YAML file (rl_zoo3 reads this name).
hyperparams = read_table("ppo")
