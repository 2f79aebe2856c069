"""The collocated one-GPU memory plan: what is on the card in each phase, and does it fit.

The GPU time-shares three phases; the actor of the phase is awake, the others sleep:

- **generate**: the rollout engine (vLLM) awake with its weights, LoRA slots, workspace and
  KV cache; the judge engine asleep; the learner's policy (unless offloaded) and LoRA states.
- **judge** (only with `judge.kind: llm`): the judge engine awake, the rollout engine asleep.
- **learn**: the learner's forward/backward; both engines asleep.

All sizes are bytes; tables show GiB (2**30 bytes) and `gpu_gb` is read as GiB (what
`nvidia-smi` shows divided by 1024). Formulas (h hidden, q = heads*head_dim, kv =
kv_heads*head_dim, i intermediate, L layers, V vocab, d = bytes of the model dtype, 2 for
bf16; N = micro_batch * seq_len tokens with seq_len = min(rollout.max_episode_tokens,
learner.max_tokens), capped at `learner.micro_batch_tokens` when set, never below seq_len):

- policy weights: params * d (params counted exactly from the shapes, `shapes.py`).
- LoRA + AdamW: lora_params * 16 (fp32 weights, gradients, Adam m and v: 4 * 4 bytes);
  lora_params = L * sum over targets of r * (in + out).
- activations, per token: with gradient checkpointing each layer keeps its input (L * h * d)
  and one layer is recomputed at a time; without, every layer keeps all of its own. A layer
  keeps 12h + 10q + 10kv + 8i bytes per token (bf16 tensors plus the fp32 copies RMSNorm
  saves: the two RMSNorms 6h each; q/k norms 6q + 6kv; rotary outputs 2q + 2kv; v 2kv;
  attention output 2q; SwiGLU gate, up, act, product 8i). Plus 2 * h * d for the gradient
  of the hidden states. Flash/SDPA attention: no seq_len**2 term.
- logits for the loss: tokens * V * 12 bytes (bf16 logits 2, fp32 log-softmax kept for
  backward 4, fp32 gradient 4, bf16 gradient 2), tokens = N, or the chunk size when the loss
  runs over chunks of positions (`learner.logits_chunk_tokens` or `PlanOptions`).
- vLLM engine awake: weights (params * d, AWQ: 4-bit linears + fp16 scales + 4-bit zeros per
  group of 128, 16-bit embeddings), LoRA slots as vLLM allocates them (`vllm_sizes.py`):
  max_loras * lora_params at vLLM's max_lora_rank (r rounded up to a rank vLLM supports) on
  the packed modules the targets touch * d (max_loras = train.max_staleness + 1), workspace =
  batched_tokens * (2h + 2q + 2kv + 3i) * d (one layer's forward at vLLM's
  `max_num_batched_tokens`) + seqs * V * 8 (fp32 logits and probabilities of the sampler),
  KV cache in whole blocks of 16 tokens, 16 * 2 * L * kv * d bytes each.
- KV wanted by the rollout engine: `rollout.concurrency` episodes of `rollout.max_episode_tokens`
  tokens (every episode in flight at full length, no preemption); by the judge: judge concurrency
  (default `rollout.group_size`) * judge prompt tokens (default max_episode_tokens + 1024).
  The rollout engine's KV pool is `rollout.kv_cache_memory_bytes` per replica when set, else
  what `rollout.gpu_memory_utilization` leaves of its share when that is set, else what is left
  of the GPU, up to what it wants; it must hold at least one episode at full length plus vLLM's
  null block (vLLM refuses to start otherwise). With less than wanted, vLLM queues or preempts
  the rest: a warning, an error with `check(strict=True)`.
- sleeping engine (level-1 sleep: weights copied to CPU RAM, KV discarded): keeps its CUDA
  graphs and allocator pools on the GPU, `engine_sleep_residue_gib` (0.5) each.
- every GPU process: a CUDA context, `cuda_context_gib` (0.5); processes = 1 learner +
  rollout.replicas + judge.replicas (llm judge).
- headroom for fragmentation and the allocator's cache: `fragmentation` (5 %) of the GPU.

These are estimates for planning and refusing early, not measurements; the learner and the
engines should still leave their own margins.
"""

from __future__ import annotations

from dataclasses import dataclass

from rlsys.memory_plan.budget import GIB, MemoryPlan, MemoryPlanError, Phase, gib
from rlsys.memory_plan.shapes import ModelShape, ModelShapeError, model_shape
from rlsys.memory_plan.vllm_sizes import kv_block_bytes, kv_request_bytes, lora_slot_bytes, vllm_lora_rank

LOGIT_BYTES = 12
ADAM_LORA_BYTES = 16


@dataclass
class PlanOptions:
    """Assumptions about how the controller runs the actors (all with documented defaults)."""

    learner_offload: bool = False
    """The learner moves its frozen base weights to CPU outside the learn phase."""
    logits_chunk_tokens: int | None = None
    """The loss computes logits over chunks of this many positions (None: `learner.logits_chunk_tokens` if set, else all at once)."""
    judge_concurrency: int | None = None
    """Judge prompts in flight (None: `rollout.group_size`)."""
    judge_prompt_tokens: int | None = None
    """Tokens of one judge prompt plus verdict (None: `rollout.max_episode_tokens + 1024`)."""
    engine_batched_tokens: int = 8192
    """vLLM `max_num_batched_tokens`: tokens of one forward pass of an engine."""
    cuda_context_gib: float = 0.5
    """CUDA context and library handles of one GPU process."""
    engine_sleep_residue_gib: float = 0.5
    """What a level-1 sleeping vLLM engine keeps on the GPU (CUDA graphs, pools)."""
    fragmentation: float = 0.05
    """Share of the GPU kept free for fragmentation and the caching allocator."""


def dtype_bytes(dtype: str) -> int:
    return 4 if dtype == "float32" else 2  # auto is bfloat16 on a GPU


def activation_bytes(shape: ModelShape, tokens: int, checkpointing: bool, d: int = 2) -> int:
    """Activation bytes of a forward/backward over `tokens` tokens (see the module docstring)."""
    h, q, kv, i = shape.hidden_size, shape.q_dim, shape.kv_dim, shape.intermediate_size
    layer = (12 * h + 10 * q + 10 * kv + 8 * i) * d // 2  # counted for bf16; fp32 doubles it
    grads = 2 * h * d
    if checkpointing:
        return tokens * (shape.num_layers * h * d + layer + grads)
    return tokens * (shape.num_layers * layer + grads)


def logits_bytes(shape: ModelShape, tokens: int) -> int:
    return tokens * shape.vocab_size * LOGIT_BYTES


def engine_workspace_bytes(shape: ModelShape, batched_tokens: int, seqs: int, d: int = 2) -> int:
    h, q, kv, i = shape.hidden_size, shape.q_dim, shape.kv_dim, shape.intermediate_size
    return batched_tokens * (2 * h + 2 * q + 2 * kv + 3 * i) * d + min(seqs, 256) * shape.vocab_size * 8


def plan_memory(cfg, gpu_gb: float, options: PlanOptions | None = None) -> MemoryPlan:
    """Per-phase memory of `cfg` (an `rlsys.config.Config`) collocated on one `gpu_gb` GiB GPU.

    Raises `MemoryPlanError` when the model's shapes cannot be found; `check()` on the result
    raises it when the plan does not fit.
    """
    opts = options or PlanOptions()
    if gpu_gb <= 0:
        raise MemoryPlanError(f"gpu_gb must be positive, got {gpu_gb}")
    gpu = int(gpu_gb * GIB)
    d = dtype_bytes(cfg.model.dtype)
    llm_judge = cfg.judge.kind == "llm"
    try:
        policy = model_shape(cfg.model.path)
        judge = model_shape(cfg.judge.model) if llm_judge else None
    except ModelShapeError as err:
        raise MemoryPlanError(f"memory plan: {err}") from None
    rollout_replicas = cfg.rollout.replicas
    judge_replicas = cfg.judge.replicas if llm_judge else 0
    seq = cfg.rollout.max_episode_tokens
    learn_seq = min(seq, getattr(cfg.learner, "max_tokens", seq) or seq)  # longer ones are truncated
    tokens = cfg.learner.micro_batch * learn_seq
    token_cap = getattr(cfg.learner, "micro_batch_tokens", 0) or 0
    if token_cap:  # a micro-batch still holds at least one whole trajectory
        tokens = min(tokens, max(token_cap, learn_seq))
    chunk = opts.logits_chunk_tokens or getattr(cfg.learner, "logits_chunk_tokens", None)
    max_loras = cfg.train.max_staleness + 1

    lora_r, lora_targets = cfg.learner.lora.r, cfg.learner.lora.target_modules
    lora = policy.lora_params(lora_r, lora_targets)
    slot_bytes = lora_slot_bytes(policy, lora_r, lora_targets, d)  # vLLM's rank and packed modules
    policy_w = policy.weight_bytes(d)
    processes = 1 + rollout_replicas + judge_replicas
    residue = opts.engine_sleep_residue_gib * GIB

    def common(phase: Phase, learner_active: bool) -> None:
        if learner_active or not opts.learner_offload:
            phase.add("policy weights (learner)", policy_w, f"{policy.param_count() / 1e9:.2f}B params x {d} B")
        phase.add("LoRA + AdamW states (fp32)", lora * ADAM_LORA_BYTES, f"{lora / 1e6:.1f}M params x 16 B")
        phase.add("CUDA contexts", processes * opts.cuda_context_gib * GIB, f"{processes} GPU processes")
        phase.add("fragmentation headroom", opts.fragmentation * gpu, f"{opts.fragmentation:.0%} of the GPU")

    def engine_awake(phase: Phase, role: str, shape: ModelShape, replicas: int, seqs: int, slots: int) -> None:
        weights = shape.weight_bytes(d if shape.quant_bits is None else 2)
        kind = f"{shape.quant_bits}-bit" if shape.quant_bits else f"{d} B/param"
        phase.add(f"{role} engine weights", replicas * weights, f"{replicas} x {shape.name}, {kind}", engine=True)
        if slots:
            phase.add(f"{role} engine LoRA slots", replicas * slots * slot_bytes,
                      f"max_loras={slots} at rank {vllm_lora_rank(lora_r)}", engine=True)
        work = engine_workspace_bytes(shape, opts.engine_batched_tokens, seqs, d)
        phase.add(f"{role} engine workspace + graphs", replicas * (work + residue),
                  f"{opts.engine_batched_tokens} batched tokens, {min(seqs, 256)} seqs", engine=True)

    kv_key = getattr(cfg.rollout, "kv_cache_memory_bytes", None)
    util_key = getattr(cfg.rollout, "gpu_memory_utilization", None)
    phases: list[Phase] = []
    gen = Phase("generate")
    common(gen, learner_active=False)
    engine_awake(gen, "rollout", policy, rollout_replicas, cfg.rollout.concurrency, max_loras)
    if llm_judge:
        gen.add("judge engine (asleep)", judge_replicas * residue, "level-1 sleep")
    per_episode = kv_request_bytes(policy, seq, d)
    null_block = kv_block_bytes(policy, d)
    gen.kv_wanted = rollout_replicas * (cfg.rollout.concurrency * per_episode + null_block)
    gen.kv_min = rollout_replicas * (per_episode + null_block)
    gen.kv_label = "rollout KV cache"
    gen.kv_block, gen.kv_replicas = null_block, rollout_replicas
    phases.append(gen)

    if llm_judge:
        jud = Phase("judge")
        common(jud, learner_active=False)
        jud.add("rollout engine (asleep)", rollout_replicas * residue, "level-1 sleep")
        j_conc = opts.judge_concurrency or cfg.rollout.group_size
        j_tokens = opts.judge_prompt_tokens or seq + 1024
        engine_awake(jud, "judge", judge, judge_replicas, j_conc, 0)
        per_prompt = kv_request_bytes(judge, j_tokens, 2)
        jud.kv_wanted = judge_replicas * (j_conc * per_prompt + kv_block_bytes(judge, 2))
        jud.kv_min = judge_replicas * (per_prompt + kv_block_bytes(judge, 2))
        jud.kv_label = "judge KV cache"
        jud.kv_block, jud.kv_replicas = kv_block_bytes(judge, 2), judge_replicas
        phases.append(jud)

    learn = Phase("learn")
    common(learn, learner_active=True)
    ckpt = cfg.learner.gradient_checkpointing
    learn.add("activations", activation_bytes(policy, tokens, ckpt, d),
              f"{tokens} tokens per micro-batch, checkpointing {'on' if ckpt else 'off'}")
    logit_tokens = min(tokens, chunk) if chunk else tokens
    learn.add("logits for the loss", logits_bytes(policy, logit_tokens),
              f"{logit_tokens} positions x {policy.vocab_size} vocab" + (" (chunked)" if chunk else ""))
    learn.add("rollout engine (asleep)", rollout_replicas * residue, "level-1 sleep")
    if llm_judge:
        learn.add("judge engine (asleep)", judge_replicas * residue, "level-1 sleep")
    phases.append(learn)

    for phase in phases:  # give each awake engine the KV it wants, up to what is left
        if phase.kv_label == "rollout KV cache" and (kv_key or util_key):
            kv, note = configured_rollout_kv(phase, gpu, rollout_replicas, kv_key, util_key, opts.cuda_context_gib * GIB)
            phase.add(phase.kv_label, kv, note)
        elif phase.kv_label:
            per_replica = min(phase.kv_wanted, max(0, gpu - phase.total)) // phase.kv_replicas
            phase.add(phase.kv_label, phase.kv_replicas * (per_replica // phase.kv_block * phase.kv_block),
                      f"wants {gib(phase.kv_wanted)}")

    cpu = rollout_replicas * policy.weight_bytes(d)
    if judge is not None:
        cpu += judge_replicas * judge.weight_bytes(2)
    if opts.learner_offload:
        cpu += policy_w
    return MemoryPlan(
        gpu_bytes=gpu, policy=policy, judge=judge, phases=phases, cpu_offload_bytes=cpu,
        hints={
            "concurrency": cfg.rollout.concurrency, "max_episode_tokens": seq,
            "micro_batch": cfg.learner.micro_batch, "checkpointing": ckpt, "chunk": chunk,
            "per_episode_kv": per_episode, "rollout_replicas": rollout_replicas,
            "judge_replicas": judge_replicas, "judge_llm": llm_judge, "group_size": cfg.rollout.group_size,
            "learner_offload": opts.learner_offload, "context_bytes": int(opts.cuda_context_gib * GIB),
            "kv_block": null_block, "rollout_kv_key": kv_key, "rollout_util_key": util_key,
        },
        config_problems=rollout_key_problems(gen, gpu, rollout_replicas, kv_key, util_key,
                                             int(opts.cuda_context_gib * GIB)),
    )


def configured_rollout_kv(gen: Phase, gpu: int, replicas: int, kv_key: int | None, util_key: float | None,
                          context: float) -> tuple[int, str]:
    """The rollout KV pool under `rollout.kv_cache_memory_bytes` / `rollout.gpu_memory_utilization`:
    the bytes set (vLLM skips profiling), else what the share leaves after the engine's own items."""
    if kv_key:
        return replicas * kv_key, "rollout.kv_cache_memory_bytes per replica"
    own = sum(it.nbytes for it in gen.items if it.engine)
    return max(0, int(replicas * (util_key * gpu - context)) - own), "what rollout.gpu_memory_utilization leaves"


def rollout_key_problems(gen: Phase, gpu: int, replicas: int, kv_key: int | None, util_key: float | None,
                         context: int) -> list[str]:
    """Set rollout memory keys that vLLM would refuse: a KV pool without room for one episode, a
    share that asks vLLM for more than is free beside the phase's other residents."""
    found = []
    per_replica = gen.kv // max(1, replicas)
    if (kv_key or util_key) and gen.kv < gen.kv_min:
        key = "rollout.kv_cache_memory_bytes" if kv_key else "rollout.gpu_memory_utilization"
        now = kv_key if kv_key else util_key
        found.append(f"{key} = {now} gives the rollout engine {gib(per_replica)} of KV cache per replica, "
                     f"less than one episode needs ({gib(gen.kv_min // max(1, replicas))}).\n    change: raise "
                     f"{key}, or set it to null (the memory plan sizes it), or lower rollout.max_episode_tokens")
    if kv_key and gen.total > gpu:
        found.append(f"rollout.kv_cache_memory_bytes = {kv_key} puts the generate phase at {gib(gen.total)} on a "
                     f"{gib(gpu)} GPU.\n    change: lower rollout.kv_cache_memory_bytes, or set it to null (the "
                     "memory plan sizes it)")
    if util_key:
        others = gen.total - sum(it.nbytes for it in gen.items if it.engine) - gen.kv - replicas * context
        asked = replicas * util_key * gpu
        if others + asked > gpu:
            found.append(f"rollout.gpu_memory_utilization = {util_key} asks vLLM for {gib(asked)} at start, but only "
                         f"{gib(gpu - others)} is free beside the phase's other residents (vLLM refuses to start)."
                         "\n    change: lower rollout.gpu_memory_utilization, or set it to null (the memory plan "
                         "decides it)")
    return found
