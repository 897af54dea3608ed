"""Free loopback TCP ports for the embedded services."""

from __future__ import annotations

import socket

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    """Return a TCP port on the loopback interface that nothing listens on right now.

    The port is released before the caller binds it, so another process may take it in
    between; callers that want certainty pass an explicit port.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port
