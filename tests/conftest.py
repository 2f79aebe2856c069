"""Shared test setup: thread limits for a 2-core machine, the `gpu` and `vllm` markers' skips, paths, and a
log line for every slow test as it finishes (so a CI log cut off by its time limit still says where the time went)."""

from __future__ import annotations

import os
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB; vLLM-CPU otherwise sizes its KV cache from RAM

import pytest  # noqa: E402

from rlsys.paths import shared_data_dir  # noqa: E402


def _has_cuda() -> bool:
    try:
        import torch

        return torch.cuda.is_available()
    except Exception:
        return False


def _vllm_missing() -> str | None:
    """Why vLLM cannot be imported here (None when it can: its CUDA or its CPU build)."""
    try:
        import vllm  # noqa: F401
    except Exception as err:  # noqa: BLE001 - any import failure means no vLLM tests
        return f"{type(err).__name__}: {err}"
    return None


# a test whose setup + call + teardown took longer (seconds) gets a line in the log when it ends
SLOW_TEST_S = float(os.environ.get("RLSYS_SLOW_TEST_S", "60"))
_suite = {"start": time.monotonic(), "durations": {}}


@pytest.hookimpl(trylast=True)  # after the terminal plugin has registered its reporter
def pytest_configure(config):
    _suite["reporter"] = config.pluginmanager.get_plugin("terminalreporter")


def pytest_runtest_logreport(report):
    durations = _suite["durations"].setdefault(report.nodeid, {})
    durations[report.when] = report.duration
    if report.when != "teardown":
        return
    del _suite["durations"][report.nodeid]  # the test is over: only running tests are kept
    reporter = _suite.get("reporter")
    if reporter is None or sum(durations.values()) < SLOW_TEST_S:
        return
    parts = ", ".join(f"{when} {seconds:,.0f} s" for when, seconds in durations.items())
    elapsed = time.monotonic() - _suite["start"]
    load = os.getloadavg()[0]  # high after the teardown: something the test started still runs
    reporter.ensure_newline()
    reporter.write_line(f"[slow test] {report.nodeid}: {parts} ({time.strftime('%H:%M:%S')}, suite {elapsed:,.0f} s, "
                        f"load {load:.1f})")


def pytest_collection_modifyitems(config, items):
    if any("gpu" in item.keywords for item in items) and not _has_cuda():
        skip_gpu = pytest.mark.skip(reason="needs a CUDA GPU (none on this machine)")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip_gpu)
    if any(item.get_closest_marker("vllm") for item in items):
        missing = _vllm_missing()
        if missing:
            skip_vllm = pytest.mark.skip(reason=f"needs vLLM (make install brings its CPU build): {missing}")
            for item in items:
                if item.get_closest_marker("vllm"):
                    item.add_marker(skip_vllm)


@pytest.fixture(scope="session")
def shared_data():
    """`../shared/data`, or skip when the recovered real data is not beside the repo."""
    path = shared_data_dir()
    if not path.is_dir():
        pytest.skip(f"real data not found at {path} (set RLSYS_SHARED_DATA)")
    return path
