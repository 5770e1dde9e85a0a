"""Egress: one subscriber connection's way out for forwarded RTP, without aiortc's coroutine chain.

aiortc sends a packet through four awaited coroutines (DTLS transport, ICE transport, aioice
connection, STUN protocol) before ``sendto``. For a lesson that is 26,000 packets a second, each
paying the chain once more per subscriber, so the hot path does the same work directly: SRTP-
protect with the transport's own session (its rollover counter and replay state stay the one
truth), send on the nominated candidate pair's socket, keep the transport's counters. Anything
unusual — not connected yet, a TURN relay pair, the pair gone — answers False and the caller uses
aiortc's path, which also raises the errors.
"""
from __future__ import annotations

import pylibsrtp
from aiortc.rtcdtlstransport import State


def _protector(session):
    """``session.protect`` for a bytearray, without pylibsrtp's per-call checks and allocations
    (same C call, same session state). Falls back to the public method if pylibsrtp changes."""
    try:
        lib, ffi = pylibsrtp._binding.lib, pylibsrtp._binding.ffi
        srtp, cdata, buf = session._srtp, session._cdata, session._buffer
        room = len(cdata) - pylibsrtp.SRTP_MAX_TRAILER_LEN
    except AttributeError:
        return lambda data: session.protect(bytes(data))
    srtp_protect, ok, length = lib.srtp_protect, lib.srtp_err_status_ok, ffi.new("int *")

    def protect(data) -> bytes:
        n = len(data)
        if n > room:
            raise ValueError("packet is too long")
        buf[0:n] = data
        length[0] = n
        rc = srtp_protect(srtp[0], cdata, length)
        if rc != ok:
            raise pylibsrtp.Error(pylibsrtp.ERRORS[rc] if 0 <= rc < len(pylibsrtp.ERRORS) else rc)
        return buf[0:length[0]]
    return protect


class Egress:
    __slots__ = ("sender", "srtp", "connection", "protect")

    def __init__(self, sender):
        self.sender = sender
        self.srtp = None
        self.connection = None
        self.protect = None

    def send_rtp(self, data: bytes | bytearray) -> bool:
        """Protect and send one RTP packet now; False if this must go aiortc's way instead."""
        dtls = self.sender.transport  # read each time: bundling may replace a sender's transport
        if dtls._state is not State.CONNECTED:
            return False
        if self.srtp is not dtls._tx_srtp:  # first packet, or keys renewed: look the path up again
            self.srtp, self.connection = dtls._tx_srtp, dtls.transport._connection
            self.protect = _protector(self.srtp)
        pair = self.connection._nominated.get(1)
        protocol = getattr(pair, "protocol", None)
        transport = getattr(protocol, "transport", None)
        if transport is None or type(protocol).__name__ != "StunProtocol":
            return False  # TURN-relayed pairs wrap data in their own framing: aiortc's path
        try:
            out = self.protect(data)
            transport.sendto(out, pair.remote_addr)
        except (ValueError, OSError, RuntimeError, pylibsrtp.Error):
            return True  # too long to protect, or the socket is going away: dropped, as UDP may be
        dtls._RTCDtlsTransport__tx_bytes += len(out)
        dtls._RTCDtlsTransport__tx_packets += 1
        return True
