"""`HFEngine`: transformers generation behind the async `Engine` interface, with request batching.

Concurrent `generate` calls are queued; a background loop decodes them in a worker thread (so
the event loop keeps serving sandbox and corpus I/O meanwhile) as one continuously batched
`RunningBatch`: waiting requests are prefilled and join the batch between decode steps (up to
`max_batch` rows), and a finished row's result is delivered at once and the row leaves the KV
cache. Each row has its own temperature, top-p, seeded generator, stop strings and limit.

LoRA adapters arrive as tensors in memory (PEFT state-dict names, see `rlsys.learner.adapter`)
and are swapped between batches, so every generation comes from exactly one policy version.
`policy_version` is -1 until the first adapter arrives (the base model).

Sleep (collocated phases): `sleep()` waits for the running batch, drops the prefix KV cache and,
on a GPU, moves the weights to host memory and empties the CUDA cache; `wake()` moves them
back. Asleep, the engine refuses to generate (`EngineAsleep`) on any device, and an adapter
loaded meanwhile is installed at `wake()` (its version becomes current then).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rlsys.rollout.chat_format import ENDOFTEXT, IM_END
from rlsys.rollout.hf_batch import RunningBatch
from rlsys.rollout.hf_lora import apply_lora_tensors
from rlsys.rollout.hf_prefix_cache import PrefixCache
from rlsys.rollout.sampling import hit_stop
from rlsys.rollout.types import Generation, SamplingParams

log = logging.getLogger(__name__)


class EngineAsleep(RuntimeError):
    """`generate` on an engine that is asleep (outside its phase)."""


@dataclass
class _Request:
    prompt: list[int]
    params: SamplingParams
    future: asyncio.Future
    tokens: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)


@dataclass
class EngineStats:
    """Counters of an engine's work, for benchmarks and logs."""

    busy_s: float = 0.0         # wall time the engine was prefilling, sampling or decoding
    batches: int = 0            # runs of the batching loop (from idle to idle)
    steps: int = 0              # decode steps
    requests: int = 0
    generated_tokens: int = 0
    batch_rows: int = 0         # sum of rows over decode steps (mean batch = batch_rows / steps)


def resolve_dtype(name: str, device: str):
    import torch

    if name == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}[name]


class HFEngine:
    """A transformers causal LM that batches concurrent requests (CPU or GPU)."""

    def __init__(
        self,
        model_path: str | Path,
        device: str = "auto",
        dtype: str = "auto",
        max_batch: int = 64,
        lora_config: dict[str, Any] | None = None,
        seed: int = 0,
        prefix_cache_entries: int | None = None,
    ):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = device
        self.tokenizer = AutoTokenizer.from_pretrained(model_path)
        self.model = AutoModelForCausalLM.from_pretrained(model_path, dtype=resolve_dtype(dtype, device))
        self.model.to(device).eval()
        self.max_batch = max_batch
        self.lora_config = dict(lora_config or {})
        self.policy_version = -1  # no adapter yet: the base model
        self.stats = EngineStats()
        # KV of finished requests, reused by the episode's next turn (default: two per batch row)
        self.prefix = PrefixCache(2 * max_batch if prefix_cache_entries is None else prefix_cache_entries)
        self._pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        self._eos_ids = self._stop_token_ids()
        self._rng = random.Random(seed)
        self._pending: deque[_Request] = deque()  # appended by the event loop, taken by the worker thread
        self._admitting = True  # False while an adapter load waits: the running batch drains
        self._wakeup: asyncio.Event | None = None
        self._lock: asyncio.Lock | None = None
        self._task: asyncio.Task | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="hf-engine")
        self._asleep = False
        self._deferred: tuple[int, dict[str, Any], dict[str, Any] | None] | None = None  # loaded while asleep
        self.sleep_s = self.wake_s = 0.0  # seconds spent in the last sleep / wake

    @property
    def asleep(self) -> bool:
        return self._asleep

    def _stop_token_ids(self) -> set[int]:
        ids = {self.tokenizer.eos_token_id}
        for token in (IM_END, ENDOFTEXT):
            tid = self.tokenizer.convert_tokens_to_ids(token)
            if isinstance(tid, int) and tid != self.tokenizer.unk_token_id:
                ids.add(tid)
        gen_eos = getattr(self.model.generation_config, "eos_token_id", None)
        ids.update(gen_eos if isinstance(gen_eos, list) else [gen_eos])
        return {i for i in ids if i is not None}

    # --- the Engine interface -------------------------------------------------------------

    async def generate(self, prompt_ids: list[int], params: SamplingParams) -> Generation:
        if not prompt_ids:
            raise ValueError("generate needs a non-empty prompt")
        if params.max_new_tokens < 1:
            raise ValueError(f"max_new_tokens must be >= 1, got {params.max_new_tokens}")
        if self._asleep:
            raise EngineAsleep("the HF engine is asleep: wake() it before generating")
        self._ensure_loop()
        future = asyncio.get_running_loop().create_future()
        self._pending.append(_Request(list(prompt_ids), params, future))
        self._wakeup.set()
        return await future

    async def load_adapter(self, version: int, tensors: dict[str, Any], config: dict[str, Any] | None = None) -> None:
        """Installs LoRA weights (PEFT names) between batches; later generations carry `version`."""
        self._ensure_loop()
        self._admitting = False
        try:
            async with self._lock:
                if self._asleep:  # installed at wake: the weights are in host memory now
                    self._deferred = (version, tensors, config)
                    log.info("adapter version %d arrived while asleep; installed at wake", version)
                    return
                loop = asyncio.get_running_loop()
                lora = {**self.lora_config, **(config or {})}
                self.model = await loop.run_in_executor(
                    self._thread, apply_lora_tensors, self.model, tensors, lora, self.device
                )
                self.prefix.clear()  # cached KV came from the old weights
                self.policy_version = version
        finally:
            self._admitting = True
        log.info("loaded adapter version %d (%d tensors)", version, len(tensors))

    async def sleep(self) -> None:
        """Frees accelerator memory until `wake`: KV dropped, weights to host memory (GPU)."""
        self._ensure_loop()
        async with self._lock:  # after the running batch
            started = time.perf_counter()
            self.prefix.clear()
            if self.device.startswith("cuda") and not self._asleep:
                import torch

                self.model.to("cpu")
                torch.cuda.empty_cache()
            self._asleep = True
            self.sleep_s = time.perf_counter() - started

    async def wake(self) -> None:
        """Weights back on the device, then the adapter that arrived while asleep, if any."""
        self._ensure_loop()
        async with self._lock:
            started = time.perf_counter()
            if self._asleep:
                if self.device.startswith("cuda"):
                    self.model.to(self.device)
                self._asleep = False
            self.wake_s = time.perf_counter() - started
        if self._deferred is not None:
            version, tensors, config = self._deferred
            self._deferred = None
            await self.load_adapter(version, tensors, config)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except (asyncio.CancelledError, Exception):  # noqa: BLE001
                pass
        self._thread.shutdown(wait=False)

    # --- the batching loop ----------------------------------------------------------------

    def _ensure_loop(self) -> None:
        if self._task is None or self._task.done():
            self._wakeup = asyncio.Event()
            self._lock = asyncio.Lock()
            self._task = asyncio.get_running_loop().create_task(self._serve())

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                async with self._lock:
                    if self._asleep:  # queued before the engine fell asleep: refused, not served
                        while self._pending:
                            _settle(self._pending.popleft().future, None, EngineAsleep("the HF engine fell asleep"))
                        break
                    await loop.run_in_executor(self._thread, self._run, self.policy_version)
                    self.stats.batches += 1

    def _generator(self, seed: int | None):
        import torch

        g = torch.Generator(device=self.device)
        g.manual_seed(seed if seed is not None else self._rng.randrange(2**62))
        return g

    def _take_pending(self, room: int) -> list[_Request]:
        taken = []
        while self._pending and len(taken) < room:
            req = self._pending.popleft()
            if not req.future.cancelled():
                taken.append(req)
        return taken

    def _run(self, version: int) -> None:
        """Decodes until no row is left, admitting waiting requests between steps (worker thread)."""
        import torch

        batch = RunningBatch(self.model, self.device, self._pad_id, self.prefix)
        try:
            with torch.inference_mode():
                while True:
                    started = time.perf_counter()
                    if self._admitting and len(batch) < self.max_batch:
                        joining = self._take_pending(self.max_batch - len(batch))
                        if joining:
                            batch.admit(joining, [self._generator(r.params.seed) for r in joining])
                    if not len(batch):
                        return
                    tokens, tok_list, lp_list = batch.sample()
                    self.stats.steps += 1
                    self.stats.batch_rows += len(batch)
                    keep = []
                    for row, req in enumerate(batch.rows):
                        req.tokens.append(tok_list[row])
                        req.logprobs.append(lp_list[row])
                        reason = self._finish_reason(req)
                        if reason is None:
                            keep.append(row)
                        else:
                            self._deliver(req, reason, version)
                    tokens = batch.keep(keep, tokens)
                    if keep:
                        batch.step(tokens)
                    self.stats.busy_s += time.perf_counter() - started  # counted per step: exact at any time
        except Exception as err:  # noqa: BLE001 - fail the rows in flight, keep serving
            log.exception("generation batch failed")
            for req in batch.rows:
                _settle_threadsafe(req.future, None, err)

    def _finish_reason(self, req: _Request) -> str | None:
        if req.tokens[-1] in self._eos_ids:
            return "stop"
        if req.params.stop:
            longest = max(len(s) for s in req.params.stop)
            tail = self.tokenizer.decode(req.tokens[-longest:], skip_special_tokens=False)
            if hit_stop(tail, req.params.stop):
                return "stop"
        if len(req.tokens) >= req.params.max_new_tokens:
            return "length"
        return None

    def _deliver(self, req: _Request, reason: str, version: int) -> None:
        text = self.tokenizer.decode(req.tokens, skip_special_tokens=False)
        gen = Generation(list(req.tokens), list(req.logprobs), text, reason, version)
        self.stats.requests += 1
        self.stats.generated_tokens += len(req.tokens)
        _settle_threadsafe(req.future, gen, None)


def _settle_threadsafe(future: asyncio.Future, value: Any, error: BaseException | None) -> None:
    """Resolves `future` on its own event loop (a request may come from a loop other than the batch's)."""
    try:
        future.get_loop().call_soon_threadsafe(_settle, future, value, error)
    except RuntimeError:  # its loop is closed: nobody waits for it any more
        pass


def _settle(future: asyncio.Future, value: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)
