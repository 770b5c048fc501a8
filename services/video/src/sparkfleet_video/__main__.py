"""`sparkfleet-video --host H --port P`: serves the endpoint and dashboard (settings from SPARKFLEET_VIDEO_*;
HTTPS when SPARKFLEET_VIDEO_TLS_CERT_FILE and _KEY_FILE are set)."""

from __future__ import annotations

import argparse

from . import __version__


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="sparkfleet-video", description=__doc__.split(":", 1)[1].strip())
    parser.add_argument("--host", default="127.0.0.1", help="listen address (default: %(default)s)")
    parser.add_argument("--port", type=int, default=8080, help="listen port (default: %(default)s)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    args = parser.parse_args(argv)

    import os

    import uvicorn  # after parsing: --help and --version stay instant

    # Whatever the unit's UMask: new folders 0750 and files 0640 at most, so vLLM's group (which the media folder
    # passes on) can read the segments and nobody else can; uploads and the database are made 0600/0700 explicitly.
    os.umask(0o027)

    from .config import ConfigError, Settings

    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        parser.exit(2, f"sparkfleet-video: {exc}\n")
    tls = {}
    if settings.tls_cert_file is not None and settings.tls_key_file is not None:
        tls = {"ssl_certfile": str(settings.tls_cert_file), "ssl_keyfile": str(settings.tls_key_file)}
    uvicorn.run("sparkfleet_video.app:create_app", factory=True, host=args.host, port=args.port, **tls)


if __name__ == "__main__":
    main()
