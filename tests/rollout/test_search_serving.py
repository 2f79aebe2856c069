"""`POST /v1/search` of `rlsys serve --search` in process: the served engine answers with beam
search (the grounded branch wins), behind the server's API key, bad requests refused."""

from __future__ import annotations

from fastapi.testclient import TestClient

from rlsys.config import load_config
from rlsys.judge.openai_server import create_app
from rlsys.search.serving import add_search_route
from rlsys.search.strategies import SearchOptions

from .branching_engine import BranchingEngine
from .inprocess_executor import InProcessExecutor


def test_serve_answers_with_beam_search(tiny_tokenizer):
    cfg = load_config("configs/tiny-cpu.yaml", ["rollout.max_turns=3", "rollout.max_new_tokens=200",
                                                "rollout.max_episode_tokens=2048"])
    engine, executor = BranchingEngine(tiny_tokenizer), InProcessExecutor()
    app = create_app(engine, tiny_tokenizer, "policy", api_key="k")
    add_search_route(app, engine, tiny_tokenizer, cfg, "beam", SearchOptions(width=2, depth=2), executor=executor)
    auth = {"Authorization": "Bearer k"}
    with TestClient(app) as client:
        assert client.post("/v1/search", json={"question": "Where was Ostrid Kael born?"}).status_code == 401
        assert client.post("/v1/search", json={"question": ""}, headers=auth).status_code == 400
        body = client.post("/v1/search", json={"question": "Where was Ostrid Kael born?", "seed": 0},
                           headers=auth).json()
    assert (body["answer"], body["end_reason"], body["strategy"], body["candidates"]) == ("Harrowmere", "answered", "beam", 3)
    assert (body["options"]["width"], body["options"]["depth"]) == (2, 2)
    assert (body["budget"]["candidates"], body["budget"]["sandbox_cells"], body["budget"]["replayed_cells"]) == (7, 4, 1)
    assert "born in Harrowmere" in body["episode"]["turns"][1]["stdout"]
    assert sorted(executor.closed) == sorted(executor.opened)


def test_serve_refuses_an_unknown_search_before_loading_anything(tiny_model_dir, capsys):
    from rlsys.cli import main

    assert main(["serve", "--model", str(tiny_model_dir), "--search", "mcts"]) == 2
    assert "unknown search strategy 'mcts'" in capsys.readouterr().err
    assert main(["serve", "--model", str(tiny_model_dir), "--search", "beam", "--width", "0"]) == 2
