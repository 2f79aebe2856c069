"""Local mode hides accelerators from actors that asked for none (Ray >= 2.5x stopped doing so
by default): a `num_gpus=0` actor sees `CUDA_VISIBLE_DEVICES=""`, so it can never pick up CUDA."""

from __future__ import annotations

import ray

from rlsys.actors.system import init_ray
from rlsys.config import Config


@ray.remote(num_cpus=0)
class _Env:
    def cuda_visible_devices(self) -> str | None:
        import os

        return os.environ.get("CUDA_VISIBLE_DEVICES")


def test_actor_without_gpus_sees_none():
    init_ray(Config())
    try:
        actor = _Env.remote()
        assert ray.get(actor.cuda_visible_devices.remote(), timeout=120) == ""
    finally:
        ray.shutdown()
