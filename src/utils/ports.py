"""Whether a TCP port can be listened on."""

from __future__ import annotations

import socket


def port_is_free(host: str, port: int) -> bool:
    """True when `host:port` binds now.

    As servers do (uvicorn, http.server), SO_REUSEADDR is set, so a port whose old
    connections sit in TIME_WAIT counts as free.
    """
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True
