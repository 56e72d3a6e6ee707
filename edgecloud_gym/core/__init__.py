"""The simulator core: pure numpy, batched, no Gymnasium.

- :mod:`~edgecloud_gym.core.params`: constants derived from a config and a batch of tasks;
- :mod:`~edgecloud_gym.core.workload`: arrival rates and Poisson arrivals for an episode;
- :mod:`~edgecloud_gym.core.actions`: discrete and continuous actions to allocation shares;
- :mod:`~edgecloud_gym.core.dynamics`: routing, fluid queues, latency and energy for one step;
- :mod:`~edgecloud_gym.core.links`: queueing delay and drops of a FIFO link with a finite buffer;
- :mod:`~edgecloud_gym.core.simulator`: the batched simulator that ties them together.
"""
