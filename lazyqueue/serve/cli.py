"""`lazyqueue serve` from parsed arguments."""

from __future__ import annotations

import sys


def main(queue, args) -> int:
    """Print the token (--show-token), or serve until interrupted."""
    from . import serve
    from .token import load_or_create

    if args.show_token:
        print(load_or_create(queue.home))
        return 0
    if not 0 <= args.port <= 65535:
        from ..core.errors import UsageError

        raise UsageError(f"--port must be 0..65535 (got {args.port})")

    def ready(url: str) -> None:
        print(f"serving {queue.home} on {url} (token: lazyqueue serve --show-token)", flush=True)

    try:
        serve(queue, args.host, args.port, run_worker=args.worker, on_ready=ready)
    except KeyboardInterrupt:
        pass
    finally:
        sys.stdout.flush()
    return 0
