"""`rlsys sandbox build-image|run|status`: build the sandbox image, run a cell by hand, check the host."""

from __future__ import annotations

import argparse
import json
import sys

from rlsys.config import add_config_arguments, config_from_args

HELP = "sandbox: build the container image, run a code cell in a sandbox, show what this host supports"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    build = sub.add_parser("build-image", help="build the sandbox image (Dockerfile, or --offline: debootstrap)")
    add_config_arguments(build)
    build.add_argument("--offline", action="store_true",
                       help="debootstrap a minimal Debian with python3 and `docker import` it (no registry needed)")
    build.add_argument("--if-missing", action="store_true", help="do nothing when the image already exists")
    build.add_argument("--suite", default="bookworm", help="Debian suite for --offline (default: bookworm)")
    build.add_argument("--mirror", default=None, help="Debian mirror for --offline (default: debootstrap's)")
    run = sub.add_parser("run", help="run code cells in one sandbox episode and print what the model would see")
    add_config_arguments(run)
    run.add_argument("--code", action="append", required=True, help="a code cell (repeat for more cells)")
    run.add_argument("--backend", choices=["auto", "docker", "bwrap"], default=None)
    run.add_argument("--timeout", type=float, default=None, help="per-cell time limit in seconds")
    run.add_argument("--json", action="store_true", help="print the full ExecResult of each cell as JSON")
    status = sub.add_parser("status", help="which backends work here (engine, image, bubblewrap)")
    add_config_arguments(status)


def _build(args: argparse.Namespace) -> int:
    from rlsys.sandbox.docker_backend import DockerUnavailable, docker_client
    from rlsys.sandbox.image import (ImageBuildError, build_from_dockerfile, build_offline, image_exists,
                                     registry_reachable)

    cfg = config_from_args(args).sandbox
    try:
        client = docker_client(timeout_s=1200)
    except DockerUnavailable as err:
        print(f"rlsys sandbox: {err}; start dockerd first", file=sys.stderr)
        return 1
    if args.if_missing and image_exists(client, cfg.image):
        print(f"sandbox image {cfg.image} exists; nothing to do")
        return 0
    log = lambda text: print(f"[build-image] {text}", flush=True)  # noqa: E731
    try:
        if args.offline or not registry_reachable():
            if not args.offline:
                log("no container registry answers: building offline (debootstrap + docker import)")
            build_offline(client, cfg.image, suite=args.suite, mirror=args.mirror, log=log)
        else:
            try:
                build_from_dockerfile(client, cfg.image, log=log)
            except ImageBuildError as err:
                log(f"{err}\nfalling back to the offline build")
                build_offline(client, cfg.image, suite=args.suite, mirror=args.mirror, log=log)
    except ImageBuildError as err:
        print(f"rlsys sandbox: {err}", file=sys.stderr)
        return 1
    return 0


def _run(args: argparse.Namespace) -> int:
    import asyncio

    from rlsys.sandbox.pool import SandboxPool
    from rlsys.sandbox.session import Session

    cfg = config_from_args(args).sandbox

    def no_corpus(name: str, kwargs: dict) -> str:
        return f"(no corpus attached to `rlsys sandbox run`: {name}({kwargs}) was not answered)"

    async def main() -> int:
        async with SandboxPool(cfg, no_corpus, size=1, backend=args.backend) as pool:
            print(f"[sandbox] backend: {pool.kind}", file=sys.stderr)
            if pool.warning:
                print(f"[sandbox] WARNING: {pool.warning}", file=sys.stderr)
            async with Session(pool, timeout_s=args.timeout) as session:
                for code in args.code:
                    result = await session.run(code)
                    if args.json:
                        print(json.dumps(result.to_dict(), indent=2))
                    else:
                        print(f"--- {result.status.value} in {result.duration_s * 1000:.1f} ms")
                        print(result.observation())
        return 0

    return asyncio.run(main())


def _status(args: argparse.Namespace) -> int:
    import shutil

    from rlsys.sandbox.docker_backend import DockerUnavailable, docker_client
    from rlsys.sandbox.image import image_exists

    cfg = config_from_args(args).sandbox
    try:
        client = docker_client(cfg.docker_timeout_s)
        print(f"docker: engine answers; image {cfg.image}: "
              f"{'present' if image_exists(client, cfg.image) else 'MISSING (rlsys sandbox build-image --offline)'}")
    except DockerUnavailable as err:
        engine = "installed" if shutil.which("dockerd") else "NOT installed (apt-get install -y docker.io)"
        print(f"docker: {err}; engine (dockerd) {engine}")
    from rlsys.sandbox.bwrap_backend import BwrapBackend, BwrapUnavailable

    try:
        BwrapBackend(cfg)
        print("bubblewrap: usable (memory cgroup per sandbox, --disable-userns)")
    except BwrapUnavailable as err:
        print(f"bubblewrap: {err}")
    print(f"configured backend: {cfg.backend}")
    return 0


def run(args: argparse.Namespace) -> int:
    return {"build-image": _build, "run": _run, "status": _status}[args.action](args)
