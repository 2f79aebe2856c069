"""`rlsys serve`: an OpenAI-compatible chat endpoint over a local model (a judge or the policy).

    rlsys serve --model artifacts/models/tiny-qwen3 --port 8000
    curl -s 127.0.0.1:8000/v1/chat/completions -d '{"messages": [{"role": "user", "content": "hi"}]}'

Binds 127.0.0.1 unless told otherwise. `--api-key-env NAME` makes it require that key.
`--search beam --width 4 --depth 1` also answers questions on `POST /v1/search` with that
inference-time search (`rlsys.search.serving`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from rlsys.config import add_config_arguments, config_from_args
from rlsys.rollout.engines import ENGINES, load_engine

__all__ = ["add_arguments", "run"]

HELP = "serve a model (judge or policy) on an OpenAI-compatible /v1/chat/completions endpoint"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--model", default=None, help="model directory (default: model.path of the config; "
                        "the tiny model is built there if missing and model.tiny is set)")
    parser.add_argument("--adapter", default=None, help="LoRA adapter directory to serve on top (from training)")
    parser.add_argument("--served-model-name", default=None, help="model id clients ask for (default: the model path)")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, loopback only)")
    parser.add_argument("--port", type=int, default=8000, help="port (default: 8000; 0 picks a free one)")
    parser.add_argument("--engine", choices=["auto", *sorted(ENGINES)], default="auto",
                        help="generation engine (default: auto = vLLM with CUDA and vLLM installed, else HF)")
    parser.add_argument("--max-batch", type=int, default=32, help="requests batched together by the engine")
    parser.add_argument("--quantization", default=None, help="vLLM weight quantization, e.g. awq (default: from the checkpoint)")
    parser.add_argument("--gpu-memory-utilization", type=float, default=0.85, help="vLLM share of GPU memory (default 0.85)")
    parser.add_argument("--max-tokens", type=int, default=256, help="default max_tokens of a request")
    parser.add_argument("--api-key-env", default=None, help="require the key held by this environment variable")
    parser.add_argument("--ready-file", default=None, help="write {\"url\": ...} here once listening (for scripts)")
    parser.add_argument("--search", default=None, help="also answer questions on POST /v1/search with this "
                        "inference-time search (single, best-of-n, beam; cells in a local sandbox over the corpus)")
    parser.add_argument("--width", type=int, default=4, help="--search: episodes (best-of-n) or beams (beam)")
    parser.add_argument("--depth", type=int, default=1, help="--search beam: turns that branch")
    parser.add_argument("--scorer", default="grounded", help="--search: gold-free scorer (grounded, vote)")


def _load_adapter_on_start(engine, adapter_dir: Path):
    from rlsys.learner.adapter import read_adapter_dir

    version, tensors = read_adapter_dir(adapter_dir)
    config_path = adapter_dir / "adapter_config.json"
    config = json.loads(config_path.read_text()) if config_path.is_file() else None

    async def load() -> None:
        await engine.load_adapter(version, tensors, config)
        print(f"rlsys serve: adapter {adapter_dir} (version {version}) loaded", file=sys.stderr)

    return load


def run(args: argparse.Namespace) -> int:
    import logging
    import socket

    import uvicorn

    from rlsys.judge.openai_server import create_app

    logging.basicConfig(level=logging.INFO, format="%(message)s")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    cfg = config_from_args(args)
    if args.model is None:
        from rlsys.rollout.tiny_model import ensure_model

        model_path = str(ensure_model(cfg.model))
        dtype = cfg.model.dtype
    else:
        from rlsys.hub_models import HubModelError, resolve_model

        try:
            model_path, dtype = resolve_model(args.model, "--model"), cfg.model.dtype
        except HubModelError as err:
            print(f"rlsys serve: {err}", file=sys.stderr)
            return 2
    looks_local = not args.model or model_path.startswith(("/", "./", "../", "~")) or Path(model_path).exists()
    if looks_local and not (Path(model_path).expanduser() / "config.json").is_file():
        print(f"rlsys serve: model directory {model_path} not found (no config.json)", file=sys.stderr)
        return 2
    if not 0 <= args.port <= 65535:
        print(f"rlsys serve: --port must be 0..65535, got {args.port}", file=sys.stderr)
        return 2
    search_opts = None
    if args.search:
        from rlsys.search.strategies import SearchOptions, get_strategy

        try:
            get_strategy(args.search)
            search_opts = SearchOptions(width=args.width, depth=args.depth, scorer=args.scorer)
        except ValueError as err:
            print(f"rlsys serve: --search: {err}", file=sys.stderr)
            return 2
    api_key = None
    if args.api_key_env:
        api_key = os.environ.get(args.api_key_env)
        if not api_key:
            print(f"rlsys serve: --api-key-env {args.api_key_env} is not set in the environment", file=sys.stderr)
            return 2
    lora = None  # no adapters unless one is served
    if args.adapter:
        config_path = Path(args.adapter) / "adapter_config.json"
        if config_path.is_file():
            meta = json.loads(config_path.read_text())
            lora = {k: meta[k] for k in ("r", "lora_alpha", "target_modules") if k in meta}
    try:
        engine, tokenizer = load_engine(model_path, args.engine, dtype=dtype, max_batch=args.max_batch,
                                        quantization=args.quantization, lora=lora, max_loras=1,
                                        gpu_memory_utilization=args.gpu_memory_utilization)
    except (OSError, ValueError, ImportError) as err:
        print(f"rlsys serve: cannot load {model_path}: {err}", file=sys.stderr)
        return 2
    startup = None
    if args.adapter:
        adapter = Path(args.adapter)
        if not (adapter / "adapter_model.safetensors").is_file():
            print(f"rlsys serve: {adapter} is not an adapter directory", file=sys.stderr)
            return 2
        startup = _load_adapter_on_start(engine, adapter)
    name = args.served_model_name or model_path
    app = create_app(engine, tokenizer, name, api_key=api_key, default_max_tokens=args.max_tokens, startup=startup)
    if search_opts is not None:
        from rlsys.search.serving import add_search_route

        add_search_route(app, engine, tokenizer, cfg, args.search, search_opts)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((args.host, args.port))
    except (OSError, OverflowError) as err:
        print(f"rlsys serve: cannot bind {args.host}:{args.port}: {err}", file=sys.stderr)
        return 2
    sock.listen(2048)  # connections queue from here on, until uvicorn accepts them
    host, port = sock.getsockname()[:2]
    url = f"http://{host}:{port}"
    print(f"rlsys serve: {name} on {url}/v1 (engine {type(engine).__name__})", file=sys.stderr)
    if args.ready_file:
        Path(args.ready_file).write_text(json.dumps({"url": url, "model": name}))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
    server.run(sockets=[sock])
    return 0
