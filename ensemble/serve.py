"""A local web page: try a recording (upload or microphone) with its transcript and bio files,
and read a run's results and its corpus as pictures.

    python ensemble/serve.py --weights weights/ [--features features/] [--reports reports/]
                             [--port 8765] [--host 127.0.0.1] [--max-upload-mb 50]

It listens on 127.0.0.1 only unless --host says otherwise, needs no internet (the page's
script and style are served by it), loads the models once at start and prints the address.
Stop it with Ctrl-C.
"""
import argparse
import signal
import socket
import sys
from pathlib import Path

from ensemble.options import add_weight_option, setup


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--weights", type=Path, default=Path("weights"), help="folder with the trained models (default: weights/)")
    parser.add_argument("--features", type=Path, default=None,
                        help="prepared feature folder for the corpus page (default: features/ if it exists)")
    parser.add_argument("--reports", type=Path, default=None,
                        help="folder of vote.py's report, with crossval/ inside it (default: reports/ if it exists)")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to listen on (default 127.0.0.1: this machine only; 0.0.0.0 exposes the page to the network)")
    parser.add_argument("--port", type=int, default=8765, help="port (default 8765; 0 picks a free one)")
    parser.add_argument("--max-upload-mb", type=float, default=50.0, help="largest request accepted, in MB (default 50)")
    add_weight_option(parser)
    parser.add_argument("--verbose", action="store_true", help="log every request")
    return parser


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on (host, port); OSError if it is taken or not an address of this machine."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    sock.listen(64)
    return sock


def default_folder(given: Path | None, name: str) -> Path | None:
    if given is not None:
        return given
    return Path(name) if Path(name).is_dir() else None


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port {args.port}: not a port number (0-65535)")
    if not args.max_upload_mb > 0:
        parser.error("--max-upload-mb must be > 0")
    setup(args.verbose)
    import uvicorn

    from ensemble.web.app import Backend, ServeConfig, create_app
    from models.artifacts import ModelFileError
    from preprocessing.storage.feature_store import FeatureError

    features = default_folder(args.features, "features")
    reports = default_folder(args.reports, "reports")
    for option, folder in (("--features", args.features), ("--reports", args.reports)):
        if folder is not None and not folder.is_dir():
            print(f"error: {option} {folder}: no such folder", file=sys.stderr)
            return 2
    config = ServeConfig(args.weights, features, reports, int(args.max_upload_mb * (1 << 20)), args.modality_weights)
    try:
        sock = bind(args.host, args.port)
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port} ({exc.strerror or exc})", file=sys.stderr)
        return 2
    # A stop signal while loading ends the run cleanly; while serving, uvicorn shuts down
    # gracefully first and then raises the signal again, which also lands here.
    previous = {s: signal.signal(s, _stopped) for s in (signal.SIGINT, signal.SIGTERM)}
    backend = None
    try:
        print(f"loading the models of {args.weights} ...", flush=True)
        backend = Backend(config)
        app = create_app(config, backend)
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        print(f"serving on http://{shown}:{port}/  (models: {', '.join(backend.predictor.sidecars)}; "
              f"Ctrl-C stops it)", flush=True)
        if host not in ("127.0.0.1", "::1", "localhost"):
            print(f"warning: listening on {host}: anyone who can reach this machine can use the page", file=sys.stderr)
        log_level = "info" if args.verbose else "warning"
        uvicorn.Server(uvicorn.Config(app, log_level=log_level, access_log=args.verbose)).run(sockets=[sock])
    except Stopped:
        pass
    except (ModelFileError, FeatureError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        if backend is not None:
            backend.close()
        sock.close()
    print("stopped", flush=True)
    return 0


class Stopped(Exception):
    """A stop signal arrived after the server had shut down."""


def _stopped(signum, frame):
    raise Stopped(signum)


if __name__ == "__main__":
    sys.exit(main())
