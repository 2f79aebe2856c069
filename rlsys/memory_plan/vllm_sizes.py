"""What vLLM 0.32 really allocates for an engine: LoRA slots and KV-cache blocks (no vLLM import).

Read from vLLM 0.32's source (`tests/system/test_memory_plan_vllm.py` checks these against
vLLM's own classes where it is installed):

- **LoRA rank**: `max_lora_rank` must be one of `vllm.config.lora.MaxLoRARanks`; the engine
  asks for the smallest one >= `learner.lora.r` (`rlsys.rollout.vllm_engine.vllm_lora_rank`),
  and every slot is allocated at that rank.
- **LoRA modules**: vLLM wraps the *runtime* modules, which pack q/k/v into `qkv_proj` and
  gate/up into `gate_up_proj` (`Qwen3ForCausalLM.packed_modules_mapping`); a packed module
  targeted by any one child gets buffers for all of its slices. The engine passes the learner's
  targets as `lora_target_modules` (without them vLLM also wraps the embeddings and lm_head).
  Per slot and wrapped module, `lora_a_stacked` is rank x in per slice and `lora_b_stacked`
  out_slice x rank (`lora/layers/column_parallel_linear.py`), in the model dtype
  (`LoRAConfig.lora_dtype: auto`): max_loras * L * sum(rank * (in + out)) * d bytes.
- **KV cache**: one page (block) of a layer holds `block_size` tokens of K and V:
  2 * block_size * kv_heads * head_dim * d bytes (`AttentionSpec.page_size_bytes`); a block
  spans every layer (`_get_kv_cache_bytes_per_block`), blocks = KV bytes // block bytes,
  a request at `max_model_len` needs ceil(max_model_len / block_size) blocks
  (`FullAttentionSpec.max_memory_usage_bytes`), and one block is the block pool's null block,
  never handed out (`check_enough_kv_cache_memory`). `block_size` defaults to 16
  (`CacheConfig.DEFAULT_BLOCK_SIZE`).
"""

from __future__ import annotations

from rlsys.memory_plan.shapes import ModelShape

VLLM_MAX_LORA_RANKS = (1, 8, 16, 32, 64, 128, 256, 320, 512)  # vllm.config.lora.MaxLoRARanks
VLLM_BLOCK_SIZE = 16                                          # vllm.config.cache.CacheConfig.DEFAULT_BLOCK_SIZE
PACKED_MODULES = {"qkv_proj": ("q_proj", "k_proj", "v_proj"), "gate_up_proj": ("gate_proj", "up_proj")}


def vllm_lora_rank(r: int) -> int:
    """The smallest `max_lora_rank` vLLM accepts that holds rank `r`."""
    for rank in VLLM_MAX_LORA_RANKS:
        if rank >= r:
            return rank
    raise ValueError(f"LoRA rank {r} is above vLLM's largest max_lora_rank ({VLLM_MAX_LORA_RANKS[-1]})")


def vllm_lora_modules(targets: list[str] | tuple[str, ...]) -> list[str]:
    """The (unpacked) modules vLLM allocates LoRA buffers for when `targets` are its target modules."""
    wanted = set(targets)
    for children in PACKED_MODULES.values():
        if wanted & set(children):
            wanted |= set(children)
    order = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
    return [m for m in order if m in wanted] + sorted(wanted - set(order))


def lora_slot_bytes(shape: ModelShape, r: int, targets: list[str] | tuple[str, ...], dtype_bytes: int) -> int:
    """GPU bytes of one LoRA slot: every wrapped module's A and B stacks at vLLM's rank."""
    return shape.lora_params(vllm_lora_rank(r), vllm_lora_modules(targets)) * dtype_bytes


def kv_block_bytes(shape: ModelShape, dtype_bytes: int, block_size: int = VLLM_BLOCK_SIZE) -> int:
    """Bytes of one KV block over all layers (`block_size` tokens of K and V)."""
    return block_size * shape.kv_bytes_per_token(dtype_bytes)


def kv_request_bytes(shape: ModelShape, tokens: int, dtype_bytes: int, block_size: int = VLLM_BLOCK_SIZE) -> int:
    """KV bytes one request of `tokens` tokens takes: whole blocks."""
    return -(-tokens // block_size) * kv_block_bytes(shape, dtype_bytes, block_size)


def kv_requests_held(kv_bytes: int, shape: ModelShape, tokens: int, dtype_bytes: int,
                     block_size: int = VLLM_BLOCK_SIZE) -> int:
    """Requests of `tokens` tokens that a pool of `kv_bytes` holds at once (the null block kept back)."""
    block = kv_block_bytes(shape, dtype_bytes, block_size)
    usable = max(0, kv_bytes // block - 1)
    return usable // -(-tokens // block_size)
