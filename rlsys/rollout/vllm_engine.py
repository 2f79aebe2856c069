"""`VLLMEngine`: vLLM's async engine (V1 `AsyncLLM`) behind the `Engine` interface (GPU only).

Written against vLLM 0.32 (the release that pins torch 2.13.0; see pyproject's `gpu` extra):
- token-in/token-out: prompts are `TokensPrompt(prompt_token_ids=...)`; the sampled token ids
  and their log-probs come back as generated (`logprobs=0` returns the sampled token's own);
- `logprobs_mode="processed_logprobs"`: log-probs after temperature (and top-p) scaling, i.e.
  `log softmax(logits / T)` when top_p == 1 — the quantity `Generation.logprobs` documents;
- LoRA: each policy version is a new adapter id (`lora_int_id = version + 1`); the engine keeps
  the newest `max_loras` (>= max_staleness + 1) and removes older ones. vLLM loads adapters
  from a directory, so the tensors are written in PEFT format to a tmpfs folder (`/dev/shm`);
- prefix caching on (episodes share their system prompt and grow by appending), and sleep
  mode for collocation (`sleep()` offloads weights and drops the KV cache; `wake()`).
vLLM is imported inside the constructor, so importing this module never needs it.
"""

from __future__ import annotations

import json
import logging
import shutil
import tempfile
import uuid
from collections import OrderedDict
from pathlib import Path
from typing import Any

from rlsys.rollout.chat_format import ENDOFTEXT, IM_END
from rlsys.rollout.hf_lora import lora_config_from_tensors
from rlsys.rollout.types import Generation, SamplingParams

log = logging.getLogger(__name__)


def write_peft_adapter(folder: Path, tensors: dict[str, Any], lora: dict[str, Any], base_model: str) -> None:
    """Writes tensors + `adapter_config.json` as `PeftModel.save_pretrained` would."""
    import torch
    from safetensors.torch import save_file

    config = lora_config_from_tensors(tensors, lora)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "r": config.r,
        "lora_alpha": config.lora_alpha,
        "lora_dropout": 0.0,
        "bias": "none",
        "target_modules": sorted(config.target_modules),
        "base_model_name_or_path": base_model,
    }
    (folder / "adapter_config.json").write_text(json.dumps(meta, indent=2))
    save_file({k: torch.as_tensor(v).detach().cpu().contiguous() for k, v in tensors.items()},
              str(folder / "adapter_model.safetensors"))


class VLLMEngine:
    """vLLM generation with per-version LoRA adapters; `generate` runs concurrently by design."""

    def __init__(
        self,
        model_path: str | Path,
        dtype: str = "auto",
        max_batch: int = 64,
        lora_config: dict[str, Any] | None = None,
        max_loras: int = 2,
        max_lora_rank: int = 64,
        max_model_len: int | None = None,
        gpu_memory_utilization: float = 0.5,
        quantization: str | None = None,
        seed: int = 0,
        enable_sleep_mode: bool = True,
    ):
        try:
            from vllm.engine.arg_utils import AsyncEngineArgs
            from vllm.v1.engine.async_llm import AsyncLLM
        except ImportError as err:
            raise ImportError(f"VLLMEngine needs vLLM (pip install 'rlsys[gpu]'): {err}") from err
        from transformers import AutoTokenizer

        self.model_path = str(model_path)
        self.tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        self.lora_config = dict(lora_config or {})
        self.max_loras = max(1, max_loras)
        self.policy_version = 0
        self._loras: OrderedDict[int, Any] = OrderedDict()  # version -> LoRARequest, oldest first
        self._adapter_root = Path(tempfile.mkdtemp(prefix="rlsys-vllm-lora-", dir=_tmpfs()))
        self._stop_ids = sorted({
            i for i in (self.tokenizer.convert_tokens_to_ids(IM_END), self.tokenizer.convert_tokens_to_ids(ENDOFTEXT),
                        self.tokenizer.eos_token_id) if isinstance(i, int)
        })
        args = AsyncEngineArgs(
            model=self.model_path,
            dtype="auto" if dtype == "auto" else dtype,
            enable_lora=True,
            max_loras=self.max_loras,
            max_lora_rank=max_lora_rank,
            enable_prefix_caching=True,
            enable_sleep_mode=enable_sleep_mode,
            logprobs_mode="processed_logprobs",
            max_num_seqs=max_batch,
            max_model_len=max_model_len,
            gpu_memory_utilization=gpu_memory_utilization,
            quantization=quantization,
            seed=seed,
        )
        self.llm = AsyncLLM.from_engine_args(args)

    async def generate(self, prompt_ids: list[int], params: SamplingParams) -> Generation:
        from vllm import SamplingParams as VSamplingParams
        from vllm import TokensPrompt
        from vllm.sampling_params import RequestOutputKind

        if not prompt_ids:
            raise ValueError("generate needs a non-empty prompt")
        version = self.policy_version
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
        final = None
        async for out in self.llm.generate(
            TokensPrompt(prompt_token_ids=list(prompt_ids)),
            sampling,
            request_id=uuid.uuid4().hex,
            lora_request=self._loras.get(version),
        ):
            final = out
        if final is None or not final.outputs:
            raise RuntimeError("vLLM returned no output")
        completion = final.outputs[0]
        token_ids = list(completion.token_ids)
        logprobs = [float(step[tok].logprob) for step, tok in zip(completion.logprobs or [], token_ids)]
        if len(logprobs) != len(token_ids):
            raise RuntimeError(f"vLLM returned {len(token_ids)} tokens but {len(logprobs)} log-probs")
        text = self.tokenizer.decode(token_ids, skip_special_tokens=False)
        reason = "length" if completion.finish_reason == "length" else "stop"
        return Generation(token_ids, logprobs, text, reason, version)

    async def load_adapter(self, version: int, tensors: dict[str, Any], config: dict[str, Any] | None = None) -> None:
        """Registers `tensors` as a new adapter id; later requests use it; old ids are evicted."""
        from vllm.lora.request import LoRARequest

        folder = self._adapter_root / f"v{version}"
        if folder.exists():
            shutil.rmtree(folder)
        write_peft_adapter(folder, tensors, {**self.lora_config, **(config or {})}, self.model_path)
        request = LoRARequest(lora_name=f"policy-v{version}", lora_int_id=version + 1, lora_path=str(folder))
        await self.llm.add_lora(request)
        self._loras[version] = request
        self.policy_version = version
        while len(self._loras) > self.max_loras:
            old_version, old = self._loras.popitem(last=False)
            await self.llm.remove_lora(old.lora_int_id)
            shutil.rmtree(self._adapter_root / f"v{old_version}", ignore_errors=True)
        log.info("vLLM adapter version %d loaded (%d kept)", version, len(self._loras))

    async def sleep(self) -> None:
        await self.llm.sleep(level=1)

    async def wake(self) -> None:
        await self.llm.wake_up()

    async def close(self) -> None:
        self.llm.shutdown()
        shutil.rmtree(self._adapter_root, ignore_errors=True)


def _tmpfs() -> str | None:
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() else None
