"""A vLLM worker extension that reports what the engine allocated for LoRA (a diagnostic).

`VLLMEngine(..., memory_probe=True)` passes `worker_extension_cls` naming `MemoryProbe`; vLLM
mixes it into its worker, and `await engine.lora_buffer_bytes()` calls it through
`collective_rpc` (one figure per worker). The memory plan's LoRA slot count
(`rlsys.memory_plan.vllm_sizes.lora_slot_bytes`) is tested against it.
"""

from __future__ import annotations

PROBE_CLASS = "rlsys.rollout.vllm_memory_probe.MemoryProbe"


class MemoryProbe:
    """Mixed into vLLM's worker: `self` is the worker (it has `model_runner`)."""

    def rlsys_lora_buffer_bytes(self) -> int:
        """Bytes of every LoRA A/B stack of the loaded model (all slots, every wrapped module)."""
        from vllm.lora.layers import BaseLayerWithLoRA

        total = 0
        for module in self.model_runner.model.modules():
            if not isinstance(module, BaseLayerWithLoRA):
                continue
            for name in ("lora_a_stacked", "lora_b_stacked"):
                stacks = getattr(module, name, None)
                stacks = stacks if isinstance(stacks, (tuple, list)) else [stacks]
                total += sum(t.numel() * t.element_size() for t in stacks if t is not None)
        return total
