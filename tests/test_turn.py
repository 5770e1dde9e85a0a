"""A publisher reachable only through TURN: a real coturn on loopback relays its media to the SFU.

coturn runs in its REST-credential mode (use-auth-secret), with credentials made by
server/live/ice.py exactly as browsers receive them; the publisher may use relay candidates only.
"""
from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time

import pytest
from aiortc import RTCConfiguration, RTCIceServer, RTCIceTransportPolicy, RTCPeerConnection

from media.producer import Producer
from server.live.ice import turn_credential
from tests.test_sfu_forwarding import MovingPattern, _negotiate, _vp8_only, subscribe_viewer

SECRET = "qihang-test-turn-secret"


def _free_port(kind=socket.SOCK_DGRAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def coturn(tmp_path):
    binary = shutil.which("turnserver")
    if binary is None:
        pytest.skip(reason="coturn is not installed (`make install-test` installs the Debian package as root)")
    port = _free_port()
    log = tmp_path / "turn.log"
    proc = subprocess.Popen([
        binary, "-n", "--listening-ip=127.0.0.1", f"--listening-port={port}", "--relay-ip=127.0.0.1",
        "--min-port=49900", "--max-port=49999", "--use-auth-secret", f"--static-auth-secret={SECRET}",
        "--realm=qihang", "--no-tls", "--no-dtls", "--no-cli", "--allow-loopback-peers", "--fingerprint",
        f"--log-file={log}", "--simple-log", "--pidfile", str(tmp_path / "turn.pid")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    if proc.poll() is not None:
        pytest.fail(f"turnserver exited: {log.read_text() if log.exists() else ''}")
    yield port, log
    proc.terminate()
    proc.wait(10)


def test_publisher_relayed_through_coturn_reaches_subscribers(coturn):
    port, _log = coturn
    username, password = turn_credential(SECRET, 1, 600)

    async def run() -> int:
        relay_only = RTCConfiguration(iceServers=[RTCIceServer(urls=f"turn:127.0.0.1:{port}?transport=udp",
                                                               username=username, credential=password)],
                                      iceTransportPolicy=RTCIceTransportPolicy.RELAY)
        publisher, sfu_in = RTCPeerConnection(relay_only), RTCPeerConnection()
        pcs = [publisher, sfu_in]
        try:
            _vp8_only(publisher.addTransceiver(MovingPattern(), direction="sendonly"))
            await _negotiate(publisher, sfu_in)
            assert "typ relay" in publisher.localDescription.sdp and "typ host" not in publisher.localDescription.sdp
            t_in = sfu_in.getTransceivers()[0]
            producer = Producer(t_in.receiver, kind="video", mime=t_in._codecs[0].mimeType,
                                clock_rate=t_in._codecs[0].clockRate)
            track = await subscribe_viewer(producer, pcs)
            frames = 0
            while frames < 15:
                await asyncio.wait_for(track.recv(), 15)
                frames += 1
            return frames
        finally:
            await asyncio.gather(*(pc.close() for pc in pcs), return_exceptions=True)

    # The publisher offered relay candidates only, so every frame the viewer decoded crossed coturn.
    assert asyncio.run(run()) == 15
