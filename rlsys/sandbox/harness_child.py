"""The episode interpreter of the sandbox harness (Python standard library only).

Sent into the sandbox together with `harness.py` (one `python3 -c` source, this file first);
the supervisor forks it (`sys.argv` is then `['-c', 'child', '<fd>']`). It runs the episode's cells in
one globals dict: fd 1/2 are a pipe drained by the supervisor, fd <fd> is its control socket
(cell requests in, tool calls and results out). Tools are re-bound before every cell; a trailing
expression is echoed like a notebook; exceptions come back as the cell's traceback lines only.
Processes it forks lose the control socket, so they can never speak for it.

Before any user code runs it installs a seccomp filter on itself (inherited by everything it
starts): no changing another process's limits, priority, scheduling or affinity (PID 1's
`prlimit`/`setpriority` would let a cell starve or kill its own supervisor), no new namespaces
(`unshare`/`clone` with namespace flags, `setns`; `clone3` answers ENOSYS so libc uses `clone`),
no 32-bit syscall ABIs. The supervisor refuses to serve cells when the filter cannot be installed.
"""

import json
import os
import signal
import socket
import sys

# x86_64 / aarch64 syscall numbers: (audit arch, {name: nr}); pid-taking calls name the pid argument.
_ARCHES = {
    "x86_64": (0xC000003E, {"prlimit64": 302, "setpriority": 141, "sched_setaffinity": 203,
                            "sched_setscheduler": 144, "sched_setparam": 142, "sched_setattr": 314,
                            "ioprio_set": 251, "unshare": 272, "clone": 56, "clone3": 435, "setns": 308}),
    "aarch64": (0xC00000B7, {"prlimit64": 261, "setpriority": 140, "sched_setaffinity": 122,
                             "sched_setscheduler": 119, "sched_setparam": 118, "sched_setattr": 274,
                             "ioprio_set": 30, "unshare": 97, "clone": 220, "clone3": 435, "setns": 268}),
}
_PID_ARG = {"prlimit64": 0, "setpriority": 1, "sched_setaffinity": 0, "sched_setscheduler": 0,
            "sched_setparam": 0, "sched_setattr": 0, "ioprio_set": 1}
_NS_FLAGS = 0x00000080 | 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000


def seccomp_program(machine):
    """The classic-BPF program (list of (code, jt, jf, k)) for `machine`, or None when unknown."""
    if machine not in _ARCHES:
        return None
    arch, nrs = _ARCHES[machine]
    ld, jeq, jge, jset, ret = 0x20, 0x15, 0x35, 0x45, 0x06
    allow, eperm, enosys = 0x7FFF0000, 0x00050000 | 1, 0x00050000 | 38
    prog = [(ld, 0, 0, 4), (jeq, 1, 0, arch), (ret, 0, 0, eperm), (ld, 0, 0, 0)]
    if machine == "x86_64":
        prog += [(jge, 0, 1, 0x40000000), (ret, 0, 0, eperm)]  # x32 ABI
    for name, nr in nrs.items():
        if name in _PID_ARG:  # allowed only on the caller itself (pid/who == 0)
            low = 16 + 8 * _PID_ARG[name]
            block = [(ld, 0, 0, low), (jeq, 0, 2, 0), (ld, 0, 0, low + 4), (jeq, 1, 0, 0), (ret, 0, 0, eperm),
                     (ret, 0, 0, allow)]
        elif name in ("unshare", "clone"):
            block = [(ld, 0, 0, 16), (jset, 0, 1, _NS_FLAGS), (ret, 0, 0, eperm), (ret, 0, 0, allow)]
        else:
            block = [(ret, 0, 0, enosys if name == "clone3" else eperm)]
        prog += [(jeq, 0, len(block), nr)] + block
    return prog + [(ret, 0, 0, allow)]


def install_seccomp():
    """Installs the filter on this process (and all it will start); returns whether it worked."""
    try:
        import ctypes

        prog = seccomp_program(os.uname().machine)
        if prog is None:
            return False

        class Filter(ctypes.Structure):
            _fields_ = [("code", ctypes.c_ushort), ("jt", ctypes.c_ubyte), ("jf", ctypes.c_ubyte),
                        ("k", ctypes.c_uint)]

        class Prog(ctypes.Structure):
            _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(Filter))]

        filters = (Filter * len(prog))(*[Filter(*ins) for ins in prog])
        fprog = Prog(len(prog), filters)
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(38, 1, 0, 0, 0) != 0:  # PR_SET_NO_NEW_PRIVS
            return False
        return libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) == 0  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
    except Exception:  # noqa: BLE001 - reported to the supervisor, which refuses to serve
        return False


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
    confined = install_seccomp()
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
    send({"op": "hello", "pid": os.getpid(), "seccomp": confined})
    while True:
        msg = recv()
        if msg.get("op") == "run":
            run_cell(msg["cell"], msg["code"])
