"""Run an ASGI app (FastAPI) with uvicorn on a background thread, on a port the OS picks.

    with ServerThread(app) as server:      # binds 127.0.0.1:<free port>
        httpx.get(server.url + "/v1/models")

Used by the tests and the judge benchmark; `rlsys serve` runs uvicorn in the foreground.
"""

from __future__ import annotations

import socket
import threading
import time
from typing import Any


class ServerThread:
    """A uvicorn server on its own thread and event loop; `url` is `http://host:port`."""

    def __init__(self, app: Any, host: str = "127.0.0.1", port: int = 0, start_timeout_s: float = 30.0):
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, port))
        self.host, self.port = self.sock.getsockname()[:2]
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._serve, name=f"uvicorn:{self.port}", daemon=True)
        self.start_timeout_s = start_timeout_s
        self.error: BaseException | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _serve(self) -> None:
        try:
            self.server.run(sockets=[self.sock])
        except BaseException as err:  # surfaced by start()
            self.error = err

    def start(self) -> "ServerThread":
        self.thread.start()
        deadline = time.monotonic() + self.start_timeout_s
        while not self.server.started:
            if self.error is not None or not self.thread.is_alive():
                raise RuntimeError(f"server on {self.url} failed to start: {self.error}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"server on {self.url} did not start within {self.start_timeout_s}s")
            time.sleep(0.02)
        return self

    def stop(self, timeout_s: float = 10.0) -> None:
        self.server.should_exit = True
        if self.thread.is_alive():
            self.thread.join(timeout_s)
        if self.thread.is_alive():  # stuck in a slow handler: stop waiting for it
            self.server.force_exit = True
            self.thread.join(timeout_s)
        self.sock.close()

    def __enter__(self) -> "ServerThread":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
