"""The in-sandbox harness (Python standard library only). It is passed with `python3 -c`: a
launcher runs the host-compiled code object when the sandbox's Python matches, else this source.
Starting a sandbox costs one interpreter start, one import of what both roles need, no compile.

Two roles in one file:

* `supervisor` — PID 1 of the container (or of the bwrap pid namespace). Talks to the host
  over its stdin/stdout in JSON lines (Docker: a unix socket it connects to at start, made its
  fd 0 and 1), and is the only process holding them. It forks the
  episode's interpreter (the *child*; again after a cell crashed it: a fork of the supervisor,
  which holds only this episode's messages, never the host channel), relays tool calls, drains the child's output pipe with a byte cap,
  enforces the cell deadline (SIGINT, then SIGKILL of everything). A sandbox serves ONE episode
  (the pool discards it afterwards), so nothing needs wiping here. It makes itself non-dumpable,
  so user code (same uid) cannot open /proc/1/fd/* or /proc/1/mem to forge messages or read its
  memory, and the child's seccomp filter stops user code changing its limits or priority.
  Whatever arrives on the child's control socket is untrusted (a cell can write to it, or hand
  a dup() of it to a forked process): every message is parsed defensively, every field that is
  forwarded to the host is type-checked and capped, a malformed message counts as a tool call
  against the per-cell cap, and a cell that keeps sending past the cap is stopped.
* `child` (`harness_child.py`, prepended to this file in the source) — runs the episode's
  cells in one globals dict. Its fd 1/2 are a pipe read by the supervisor (user output can
  never reach the host channel); its control socket carries cell requests, tool calls, results.
After every cell the supervisor kills any other process the cell left behind (a fork bomb's
survivors, background jobs), so nothing a cell starts outlives it except its own threads.

Host -> supervisor: init, run, tool_result, ping.  Supervisor -> host: ready, tool, result, pong.
"""

import json
import os
import select
import signal
import socket
import sys
import time

MAX_MSG = 256 << 10         # longest control line accepted from the child
MAX_ERROR = 4000            # characters of a cell's error text that reach the host
MAX_NAME = 64               # characters of a tool name
MAX_KWARGS = 16 << 10       # characters of a tool call's JSON-encoded arguments
SPAM_SLACK = 5              # tool messages past the per-cell cap before the cell is stopped
DONE_GRACE_S = 1.0          # after SIGINT at the deadline, time the cell gets to unwind
CHILD_START_S = 10.0
EXIT_MSG = ("the interpreter exited (os._exit, sys.exit in a thread, or a crash); variables from "
            "earlier cells are gone")


def _set_dumpable(value):
    try:
        import ctypes
        ctypes.CDLL(None, use_errno=True).prctl(4, value, 0, 0, 0)  # PR_SET_DUMPABLE = 4
    except Exception:
        pass


def _preload():
    """What the episode interpreter needs, loaded once here so that every fork has it: its
    modules, and `site` (exit(), quit(), help(), site-packages; this process runs with -S)."""
    import ast, builtins, ctypes, io, linecache, pprint, resource, site, threading, traceback, types  # noqa: E401,F401
    site.main()


def parse(line):
    """A JSON object, or None for anything else (invalid, deeply nested, not an object)."""
    try:
        msg = json.loads(line)
    except Exception:  # noqa: BLE001 - ValueError, RecursionError, MemoryError
        return None
    return msg if isinstance(msg, dict) else None


class Lines:
    """Buffered JSON-line reader over a file descriptor; malformed lines come back as None."""

    def __init__(self, fd, limit=MAX_MSG):
        self.fd, self.buf, self.limit = fd, b"", limit

    def read_available(self):
        """Reads once; returns (messages, eof). Raises ValueError on an oversized line."""
        data = os.read(self.fd, 1 << 16)
        self.buf += data
        msgs = []
        while b"\n" in self.buf:
            line, self.buf = self.buf.split(b"\n", 1)
            if line.strip():
                msgs.append(parse(line))
        if len(self.buf) > self.limit:
            self.buf = b""
            raise ValueError("control line too long")
        return msgs, not data


def _tool_fields(msg):
    """(call, name, kwargs) of a child's tool message, or None when any of them is malformed."""
    call, name, kwargs = msg.get("call"), msg.get("name"), msg.get("kwargs")
    if type(call) is not int or not isinstance(name, str) or len(name) > MAX_NAME or not isinstance(kwargs, dict):
        return None
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in kwargs.items()):
        return None
    if len(json.dumps(kwargs)) > MAX_KWARGS:
        return None
    return call, name, kwargs


def _cap(text, limit=MAX_ERROR):
    if text is None:
        return None
    text = text if isinstance(text, str) else repr(type(text))
    return text if len(text) <= limit else text[: limit // 2] + "\n...\n" + text[-limit // 2:]


def _write_all(fd, data):
    while data:
        data = data[os.write(fd, data):]


# ----------------------------------------------------------------------------- supervisor
CHILD_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/tmp", "LANG": "C.UTF-8",
             "PYTHONDONTWRITEBYTECODE": "1", "PYTHONIOENCODING": "utf-8"}
IGNORED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM)


def _become_interpreter(parent, ctl_fd, out_r, out_w):
    """In the forked child: drop everything of the supervisor (host channel, fds, signal
    environment, non-dumpable flag), then run the episode interpreter. Never returns."""
    parent.close()
    os.close(out_r)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(out_w, 1)
    os.dup2(out_w, 2)
    os.closerange(3, ctl_fd)
    os.closerange(ctl_fd + 1, 1 << 16)
    os.chdir("/tmp")  # signals: child_main restores the defaults (SIGINT stays ignored between cells)
    os.environ.clear()
    os.environ.update(CHILD_ENV)
    sys.dont_write_bytecode = True
    sys.argv = ["-c", "child", str(ctl_fd)]
    _set_dumpable(1)  # its own /proc files are its own again (oom_score_adj), the supervisor stays 0
    child_main()
    os._exit(0)


class Supervisor:
    def __init__(self):
        self.host = Lines(0, 64 << 20)
        self.init = {}
        self.child = None      # dict(pid, proc, ctl, lines, out)
        self.cell = None       # dict(id, deadline, interrupted, messages)
        self.out = bytearray()
        self.out_total = 0
        self.exited = {}       # pid -> wait status, from the reaper

    def send(self, msg):
        _write_all(1, json.dumps(msg).encode() + b"\n")

    def reap(self):
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            self.exited[pid] = status

    def spawn(self):
        """Forks the episode interpreter: a copy of this process (which holds nothing but this
        episode's messages: a sandbox serves one episode) set up like a fresh `python3 -I`, with
        no second interpreter start or import (measured: ~40 ms of CPU per sandbox saved)."""
        parent, child = socket.socketpair()
        out_r, out_w = os.pipe()
        pid = os.fork()
        if pid == 0:
            try:
                _become_interpreter(parent, child.fileno(), out_r, out_w)
            finally:
                os._exit(1)
        child.close()
        os.close(out_w)
        parent.settimeout(2.0)  # a cell that never reads its socket cannot block the supervisor on a reply
        os.set_blocking(out_r, False)
        self.child = {"pid": pid, "ctl": parent, "lines": Lines(parent.fileno()), "out": out_r}
        parent.sendall(json.dumps({k: self.init.get(k) for k in ("tools", "memory_bytes", "nproc", "fsize")})
                       .encode() + b"\n")
        deadline = time.monotonic() + CHILD_START_S
        while time.monotonic() < deadline:
            if select.select([parent], [], [], 0.1)[0]:
                try:
                    msgs, eof = self.child["lines"].read_available()
                except (ValueError, OSError):
                    break
                hello = [m for m in msgs if m and m.get("op") == "hello"]
                if hello:
                    return bool(hello[0].get("seccomp"))  # never serve an unconfined interpreter
                if eof:
                    break
        self.kill_child()
        return False

    def kill_child(self):
        """SIGKILL the child and, as PID 1 of a namespace, every other process in it."""
        if self.child:
            try:
                os.kill(self.child["pid"], signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.child["ctl"].close()
            os.close(self.child["out"])
            self.child = None
        if os.getpid() == 1:  # never outside a pid namespace
            try:
                os.kill(-1, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.005)
        self.reap()

    def drain(self):
        if not self.child:
            return
        while True:
            try:
                data = os.read(self.child["out"], 1 << 16)
            except BlockingIOError:
                return
            if not data:
                return
            room = self.init.get("output_bytes", 8192) - len(self.out)
            if room > 0:
                self.out += data[:room]
            self.out_total += len(data)

    def kill_strays(self):
        """Kills every process of the namespace except this one and the child (PID 1 only)."""
        if os.getpid() != 1:
            return
        keep = {1, self.child["pid"] if self.child else 1}
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) not in keep:
                try:
                    os.kill(int(entry), signal.SIGKILL)
                except OSError:
                    pass

    def finish(self, status, error):
        self.drain()
        self.kill_strays()
        self.send({"op": "result", "cell": self.cell["id"], "status": status, "error": _cap(error),
                   "stdout": self.out.decode("utf-8", "replace"), "shown_bytes": len(self.out),
                   "total_bytes": self.out_total})
        self.cell, self.out, self.out_total = None, bytearray(), 0

    def child_died(self):
        pid = self.child["pid"]
        deadline = time.monotonic() + 1.0
        while pid not in self.exited and time.monotonic() < deadline:
            self.reap()
            time.sleep(0.002)
        status = self.exited.pop(pid, None)
        self.drain()
        self.kill_child()
        if self.cell is None:
            return
        if status is not None and os.WIFSIGNALED(status):
            sig = signal.Signals(os.WTERMSIG(status)).name
            hint = {"SIGKILL": " (out of memory or killed)", "SIGSEGV": " (stack overflow? deep recursion)"}
            msg = f"the interpreter was killed by {sig}{hint.get(sig, '')}; variables from earlier cells are gone"
        else:
            msg = EXIT_MSG
        self.finish("killed", msg)
        self.spawn()  # the next cell finds a fresh interpreter waiting

    def on_host(self, msg):
        op = msg.get("op")
        if op == "run":
            self.cell = {"id": msg["cell"], "timeout": float(msg["timeout"]), "interrupted": None,
                         "deadline": time.monotonic() + float(msg["timeout"]), "messages": 0}
            if self.child is None and not self.spawn():
                self.finish("killed", "the sandbox could not start a fresh interpreter")
                return
            try:
                self.child["ctl"].sendall(json.dumps({"op": "run", "cell": msg["cell"], "code": msg["code"]})
                                          .encode() + b"\n")
            except OSError:
                self.child_died()
        elif op == "tool_result":
            if self.cell and self.child and msg.get("cell") == self.cell["id"]:
                try:
                    self.child["ctl"].sendall(json.dumps(msg).encode() + b"\n")
                except OSError:
                    pass
        elif op == "ping":
            self.send({"op": "pong", "child": self.child is not None})

    def on_child(self):
        try:
            msgs, eof = self.child["lines"].read_available()
        except (ValueError, OSError):
            msgs, eof = [], True  # an endless line on the control socket: treat as a dead interpreter
        for msg in msgs:
            if self.cell is None or self.child is None:
                continue  # between cells nothing the interpreter says matters
            if msg is not None and msg.get("op") == "done":
                if msg.get("cell") != self.cell["id"]:
                    continue  # a late `done` of an earlier cell (stays inside the sandbox)
                elif self.cell["interrupted"]:
                    self.finish("timeout", f"TimeoutError: the cell exceeded its {self.cell['timeout']:g}s time "
                                "limit and was interrupted")
                else:
                    status = msg.get("status")
                    self.finish(status if status in ("ok", "error") else "error", msg.get("error"))
                continue
            self.on_tool_message(msg)
        if eof and self.child:
            self.child_died()

    def on_tool_message(self, msg):
        """A tool call, or anything else the cell wrote: both count against the per-cell cap."""
        cell = self.cell
        cell["messages"] += 1
        limit = int(self.init.get("max_tool_calls") or 20)
        if cell["messages"] > limit + SPAM_SLACK:
            self.drain()
            self.kill_child()
            self.finish("killed", f"the cell kept sending tool calls or other messages past the limit of {limit} "
                        "per cell and was stopped; the interpreter was restarted, variables from earlier cells are gone")
            self.spawn()
            return
        if cell["interrupted"]:
            return
        fields = _tool_fields(msg) if msg is not None and msg.get("op") == "tool" else None
        if fields is None:  # the host counts it and answers with an error (if anyone still listens)
            name = msg.get("name") if msg is not None else None
            self.send({"op": "tool", "cell": cell["id"], "call": None, "kwargs": None,
                       "name": name if isinstance(name, str) and len(name) <= MAX_NAME else None})
        else:
            call, name, kwargs = fields
            self.send({"op": "tool", "cell": cell["id"], "call": call, "name": name, "kwargs": kwargs})

    def check_deadline(self):
        now = time.monotonic()
        cell = self.cell
        if cell is None or now < cell["deadline"]:
            return
        if cell["interrupted"] is None:
            cell["interrupted"] = now
            if self.child:
                try:
                    os.kill(self.child["pid"], signal.SIGINT)
                except ProcessLookupError:
                    pass
        elif now >= cell["interrupted"] + DONE_GRACE_S:
            self.drain()
            self.kill_child()
            self.finish("timeout", "TimeoutError: the cell exceeded its time limit and did not stop when "
                        "interrupted; the interpreter was restarted, variables from earlier cells are gone")
            self.spawn()

    def serve(self):
        self.init = self.read_init()
        self.send({"op": "ready", "ok": self.spawn(), "pid": os.getpid()})
        while True:
            fds = [0]
            if self.child:
                fds += [self.child["ctl"], self.child["out"]]
            wait = 0.05 if self.cell else 1.0
            if self.cell:
                wait = max(0.0, min(wait, self.cell["deadline"] - time.monotonic() + 0.001))
            ready = select.select(fds, [], [], wait)[0]
            if 0 in ready:
                msgs, eof = self.host.read_available()
                if eof:  # the worker is gone (or let this sandbox go): the sandbox ends with it
                    self.kill_child()
                    return
                for msg in msgs:
                    if msg is not None:
                        self.on_host(msg)
            try:
                self.serve_child(ready)
            except Exception as err:  # noqa: BLE001 - whatever the cell made of its interpreter, keep serving
                self.fail_cell(err)
            self.check_deadline()

    def serve_child(self, ready):
        if self.child and self.child["out"] in ready:
            self.drain()
        if self.child and self.child["ctl"] in ready:
            self.on_child()
        self.reap()
        if self.child and self.child["pid"] in self.exited:
            self.child_died()

    def fail_cell(self, err):
        """An unexpected failure while serving the cell's interpreter: the cell's outcome, not ours."""
        self.kill_child()
        if self.cell is not None:
            self.out, self.out_total = bytearray(), 0
            self.finish("killed", f"the sandbox could not serve this cell's interpreter ({type(err).__name__}); "
                        "variables from earlier cells are gone")
        self.spawn()

    def read_init(self):
        while True:
            msgs, eof = self.host.read_available()
            if eof:
                raise SystemExit(0)
            if msgs and msgs[0] is not None:
                return msgs[0]


def _connect_host(path):
    """Docker's direct channel: the host listens on a unix socket in a directory mounted into
    the container; connected, the socket becomes this process's fd 0 and 1 (what the attach
    stream or bwrap's pipes are otherwise), so nothing else changes."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as err:
        os.write(2, f"supervisor: cannot connect to the host at {path}: {err}\n".encode())
        raise SystemExit(3)
    os.dup2(sock.fileno(), 0)
    os.dup2(sock.fileno(), 1)
    sock.close()


def supervisor_main(host_socket=None):
    _set_dumpable(0)
    if host_socket:
        _connect_host(host_socket)
    for sig in IGNORED_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    _preload()
    Supervisor().serve()


if __name__ == "__main__":
    if sys.argv[4:5] == ["supervisor"]:  # -c, magic, code, source, supervisor [, host socket]
        supervisor_main(sys.argv[5] if len(sys.argv) > 5 else None)
