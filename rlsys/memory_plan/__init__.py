"""The collocated one-GPU memory plan (see `rlsys.memory_plan.plan` for formulas and assumptions).

    plan = plan_memory(cfg, gpu_gb=24)
    print(plan.render())
    plan.check()          # raises MemoryPlanError naming what does not fit and what to change
"""

from rlsys.memory_plan.budget import GIB, Item, MemoryPlan, MemoryPlanError, Phase
from rlsys.memory_plan.plan import PlanOptions, activation_bytes, logits_bytes, plan_memory
from rlsys.memory_plan.shapes import BUILTIN_SHAPES, ModelShape, ModelShapeError, model_shape

__all__ = [
    "GIB", "Item", "MemoryPlan", "MemoryPlanError", "Phase", "PlanOptions", "activation_bytes",
    "logits_bytes", "plan_memory", "BUILTIN_SHAPES", "ModelShape", "ModelShapeError", "model_shape",
]
