"""``python -m stella_probe run [options] -- SCRIPT|-m MODULE [ARGS...]`` (SPEC §14).

Exit status: the program's own; 2 for a usage or configuration error of the probe.
"""

from __future__ import annotations

import argparse
import os
import runpy
import sys
from typing import Any

from stella_probe._config import Config, ConfigError, parse_sample, parse_targets


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m stella_probe")
    commands = parser.add_subparsers(dest="command", required=True)
    run = commands.add_parser("run", help="run a Python program under the probe")
    run.add_argument("--mode", choices=("targeted", "discovery"), default="targeted")
    run.add_argument("--targets", metavar="FILE", help="module:qualname or sym:python: a line")
    run.add_argument("--out", metavar="DIR", default="stella-probe-out")
    run.add_argument("--window", metavar="SECONDS", type=float, default=60.0)
    run.add_argument("--sample", metavar="ON/OFF", help="discovery duty cycle (default 10/50)")
    run.add_argument("--purl", default="", help="the project's purl (default pkg:generic/<dir>)")
    run.add_argument("--project-root", metavar="DIR", help="default: the script's directory")
    run.add_argument("--include-stdlib", action="store_true")
    run.add_argument("--max-keys", type=int, default=200_000)
    run.add_argument("--process-name", default="")
    run.add_argument("--server", metavar="URL", default="")
    run.add_argument("--tenant", default="")
    run.add_argument("--token-file", metavar="FILE", default="")
    run.add_argument("--graph-hash", metavar="H", default="")
    run.add_argument("--upload-retries", type=int, default=5)
    run.add_argument("--upload-backoff", type=float, default=2.0)
    run.add_argument(
        "--sign-key",
        metavar="PEM",
        default="",
        help="sign each window's trace (DSSE); needs pip install 'stella-probe[sign]'",
    )
    run.add_argument("program", nargs=argparse.REMAINDER, help="-- SCRIPT|-m MODULE [ARGS...]")
    return parser


def _package_root(folder: str) -> str:
    while os.path.isfile(os.path.join(folder, "__init__.py")) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    return folder


def main(argv: list[str] | None = None) -> Any:
    parser = _parser()
    args = parser.parse_args(argv)
    program = list(args.program)
    if program[:1] == ["--"]:
        program = program[1:]
    if not program or program == ["-m"]:
        parser.error("run: name a SCRIPT or -m MODULE after --")
    module = program[1] if program[0] == "-m" else None
    rest = program[2:] if module else program[1:]
    script = None if module else os.path.abspath(program[0])
    root = args.project_root or (
        os.getcwd() if script is None else _package_root(os.path.dirname(script))
    )
    try:
        config = Config(
            mode=args.mode,
            targets=parse_targets(args.targets) if args.targets else (),
            out=os.path.abspath(args.out),
            window=args.window,
            sample=parse_sample(args.sample) if args.sample else None,
            project_root=os.path.abspath(root),
            purl=args.purl,
            include_stdlib=args.include_stdlib,
            max_keys=args.max_keys,
            server=args.server,
            tenant=args.tenant,
            token_file=args.token_file,
            graph_hash=args.graph_hash,
            upload_retries=args.upload_retries,
            upload_backoff=args.upload_backoff,
            process_name=args.process_name,
            sign_key=args.sign_key,
        ).check()
        if script is not None and not os.path.isfile(script):
            raise ConfigError(f"{program[0]}: no such script")
        from stella_probe._probe import start

        probe = start(config)  # loads the signing key: a bad one is refused here
    except ConfigError as exc:
        parser.exit(2, f"python -m stella_probe: error: {exc}\n")
    try:
        if module is not None:
            sys.argv = [module, *rest]
            sys.path.insert(0, os.getcwd())
            runpy.run_module(module, run_name="__main__", alter_sys=True)
        elif script is not None:
            sys.argv = [script, *rest]
            sys.path[0] = os.path.dirname(script)
            runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        return exc.code
    finally:
        probe.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
