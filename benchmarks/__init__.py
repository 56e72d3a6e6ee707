"""The evaluation harness and the ``edgecloud`` command (installed as ``edgecloud_bench``)."""
