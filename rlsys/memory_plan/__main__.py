"""`python -m rlsys.memory_plan --config configs/qwen3-4b-24gb.yaml --gpu-gb 24`: print the plan.

Exit status 0 when it fits, 1 when it does not (the reasons and what to change are printed).
"""

from __future__ import annotations

import argparse
import sys

from rlsys.config import ConfigError, add_config_arguments, config_from_args
from rlsys.memory_plan import MemoryPlanError, ModelShapeError, PlanOptions, plan_memory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m rlsys.memory_plan", description=__doc__.splitlines()[0])
    add_config_arguments(parser, default="configs/qwen3-4b-24gb.yaml")
    parser.add_argument("--gpu-gb", type=float, default=24.0, help="GPU memory in GiB (default 24)")
    parser.add_argument("--logits-chunk", type=int, default=None, help="the loss runs over chunks of this many positions")
    parser.add_argument("--learner-offload", action="store_true", help="learner weights go to CPU outside the learn phase")
    parser.add_argument("--strict", action="store_true", help="also fail when the KV cache cannot hold every episode in flight")
    args = parser.parse_args(argv)
    try:
        cfg = config_from_args(args)
        plan = plan_memory(cfg, args.gpu_gb, PlanOptions(learner_offload=args.learner_offload,
                                                         logits_chunk_tokens=args.logits_chunk))
    except (ConfigError, ModelShapeError, MemoryPlanError) as err:
        print(f"rlsys.memory_plan: {err}", file=sys.stderr)
        return 2
    print(plan.render(), end="")
    try:
        plan.check(strict=args.strict)
    except MemoryPlanError:
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
