"""The episode interpreter of the sandbox harness (Python standard library only).

Sent into the sandbox together with `harness.py` (one `python3 -c` source, this file first);
the supervisor starts it as `python3 -I -c <source> child <fd>`. It runs the episode's cells in
one globals dict: fd 1/2 are a pipe drained by the supervisor, fd <fd> is its control socket
(cell requests in, tool calls and results out). Tools are re-bound before every cell; a trailing
expression is echoed like a notebook; exceptions come back as the cell's traceback lines only.
Processes it forks lose the control socket, so they can never speak for it.
"""

import json
import os
import signal
import socket
import sys


def child_main():
    import ast, builtins, io, linecache, pprint, resource, threading, traceback, types  # noqa: E401

    ctl = socket.socket(fileno=int(sys.argv[-1]))
    os.set_inheritable(ctl.fileno(), False)  # programs it runs never get the control socket
    os.register_at_fork(after_in_child=ctl.close)  # nor do processes it forks
    lock = threading.Lock()
    main_pid = os.getpid()
    dumps, loads = json.dumps, json.loads
    state = {"buf": b"", "call": 0}

    def send(msg):
        ctl.sendall(dumps(msg).encode() + b"\n")

    def recv():
        while b"\n" not in state["buf"]:
            data = ctl.recv(1 << 16)
            if not data:
                os._exit(0)
            state["buf"] += data
        line, state["buf"] = state["buf"].split(b"\n", 1)
        return loads(line)

    init = recv()
    for limit, value in ((resource.RLIMIT_AS, init.get("memory_bytes")), (resource.RLIMIT_CORE, 0),
                         (resource.RLIMIT_NPROC, init.get("nproc")), (resource.RLIMIT_FSIZE, init.get("fsize"))):
        if value is not None:
            try:
                resource.setrlimit(limit, (value, value))
            except (ValueError, OSError):
                pass
    try:
        with open("/proc/self/oom_score_adj", "w") as f:  # the OOM killer takes us, not PID 1
            f.write("1000")
    except OSError:
        pass
    for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2, signal.SIGALRM):
        signal.signal(sig, signal.SIG_DFL)  # the supervisor ignores these; user code gets the defaults
    out_fd = os.dup(1)
    errors = {"TypeError": TypeError, "ValueError": ValueError, "RuntimeError": RuntimeError}

    def make_tool(spec):
        name, params = spec["name"], spec["params"]

        def tool(*args, **kwargs):
            if len(args) > len(params):
                raise TypeError(f"{name}() takes {len(params)} argument(s) but {len(args)} were given")
            bound = dict(zip(params, args))
            for key, value in kwargs.items():
                if key not in params:
                    raise TypeError(f"{name}() got an unexpected keyword argument {key!r}")
                if key in bound:
                    raise TypeError(f"{name}() got multiple values for argument {key!r}")
                bound[key] = value
            for key in params:
                if key not in bound:
                    raise TypeError(f"{name}() missing required argument {key!r}")
                if not isinstance(bound[key], str):
                    raise TypeError(f"{name}() argument {key!r} must be a str, not {type(bound[key]).__name__}")
            with lock:  # one call in flight, even from user threads
                state["call"] += 1
                call = state["call"]
                send({"op": "tool", "call": call, "name": name, "kwargs": bound})
                while True:
                    msg = recv()
                    if msg.get("op") == "tool_result" and msg.get("call") == call:
                        break
            if not msg.get("ok"):
                raise errors.get(msg.get("kind"), RuntimeError)(msg.get("message", "tool call failed"))
            return msg.get("value")

        tool.__name__ = tool.__qualname__ = name
        tool.__doc__ = spec.get("doc")
        return tool

    tools = {spec["name"]: make_tool(spec) for spec in init.get("tools", [])}
    module = types.ModuleType("__main__")
    sys.modules["__main__"] = module
    user = module.__dict__

    def run_cell(cell, code):
        os.dup2(out_fd, 1)
        os.dup2(out_fd, 2)
        out = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8", errors="backslashreplace")
        sys.stdout = sys.__stdout__ = out
        sys.stderr = sys.__stderr__ = out
        user.update(tools)  # rebinding a tool in an earlier cell never breaks this one
        user["__builtins__"] = builtins
        filename = f"<cell {cell}>"
        linecache.cache[filename] = (len(code), None, code.splitlines(True), filename)
        status, error = "ok", None
        signal.signal(signal.SIGINT, signal.default_int_handler)  # the deadline interrupts with SIGINT
        try:
            tree = ast.parse(code, filename, "exec")
            last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
            exec(compile(tree, filename, "exec"), user)
            if last is not None:
                value = eval(compile(ast.Expression(last.value), filename, "eval"), user)
                if value is not None:
                    print(pprint.pformat(value, width=100, sort_dicts=False), file=out)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        except BaseException as exc:  # noqa: BLE001 - the cell's failure is its result
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            status = "error"
            try:
                sys.setrecursionlimit(1000)
                te = traceback.TracebackException(type(exc), exc, exc.__traceback__.tb_next, limit=-30)
                te.stack = traceback.StackSummary.from_list([f for f in te.stack if f.filename != "<string>"])
                text = "".join(te.format())
                error = text if len(text) <= 2000 else "...\n" + text[-2000:]
            except BaseException:  # noqa: BLE001
                error = type(exc).__name__
        if os.getpid() != main_pid:  # a process the cell forked came back here: it just ends
            os._exit(0)
        try:
            sys.setrecursionlimit(1000)
            out.flush()
        except BaseException:  # noqa: BLE001
            pass
        send({"op": "done", "cell": cell, "status": status, "error": error})

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # idle: a late deadline signal is dropped
    send({"op": "hello", "pid": os.getpid()})
    while True:
        msg = recv()
        if msg.get("op") == "run":
            run_cell(msg["cell"], msg["code"])
