"""A TCP relay in front of the test server whose cable the test can pull.

Browser-side network emulation (Playwright's ``set_offline`` and ``route``) does not reliably reach
requests of a page controlled by a service worker (microsoft/playwright#2311, #7588): one exam test run
saw an answer reach the server while the page was "offline". Cutting the connection between the
browser and the server is what a phone losing its signal does, and no browser path can slip past it.
"""
from __future__ import annotations

import socket
import struct
import threading

from tests.appserver import free_port


class NetCut:
    """Relays 127.0.0.1:<port> to ``target_port``; ``down()`` resets every live connection and
    refuses new ones until ``up()``."""

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._cut = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._live: set[socket.socket] = set()
        self._listener = socket.create_server(("127.0.0.1", self.port))
        self._listener.settimeout(0.2)
        threading.Thread(target=self._accept, daemon=True).start()

    def down(self) -> None:
        self._cut.set()
        with self._lock:
            live, self._live = self._live, set()
        for sock in live:
            _reset(sock)

    def up(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self._stop.set()
        self.down()
        self._listener.close()

    def __enter__(self) -> "NetCut":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._cut.is_set():
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port))
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self._live.update((client, upstream))
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                if self._cut.is_set():
                    break
                dst.sendall(data)
        except OSError:
            pass
        with self._lock:
            self._live.difference_update((src, dst))
        for sock in (src, dst):
            _reset(sock)


def _reset(sock: socket.socket) -> None:
    """Close with RST (linger 0), as a dropped link looks to the peer: no polite FIN."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    try:
        sock.close()
    except OSError:
        pass
