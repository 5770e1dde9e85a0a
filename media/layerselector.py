"""LayerSelector: which camera layer one subscriber should receive, from that subscriber's own feedback.

LIVE-3: a student on a good network gets the high layer (480p class); one on a weak network gets
the low layer rather than a frozen picture. Inputs are what a browser sends the SFU anyway: RTCP
receiver reports (fraction lost, about once a second) and REMB (the browser's receive-side
bandwidth estimate, when it sends one). Down quickly when the network is congested, up after a
hold time that doubles when the choice flaps (the same shape as mediasoup's and LiveKit's
allocators). Going up is itself the probe: a receive-side estimate never rises much above what it
receives (Chrome caps it at 1.5× the incoming rate), so REMB can only send a subscriber down, and
not during its first seconds, while the browser's estimator is still starting. A student may also
pin a layer ("high"/"low") by hand.
"""
from __future__ import annotations

HIGH, LOW = 0, 1
PREFERENCES = ("auto", "high", "low")


class LayerSelector:
    DOWN_LOSS = 0.10  # two reports in a row above this: congested
    DOWN_LOSS_NOW = 0.25  # one report above this: congested
    UP_LOSS = 0.02  # at most this loss to go back up
    REMB_DOWN = 0.9  # REMB below the high layer's bitrate × this: the link cannot carry it
    REMB_FRESH = 5.0  # seconds a REMB value stays meaningful
    WARMUP = 6.0  # seconds after the start during which REMB is ignored

    def __init__(self, *, hold: float = 8.0, max_hold: float = 64.0, preference: str = "auto",
                 now: float = 0.0):
        self.layer = HIGH
        self.preference = preference
        self.hold, self.base_hold, self.max_hold = hold, hold, max_hold
        self.next_up = 0.0
        self.last_up: float | None = None
        self.lossy = 0
        self.loss: float | None = None
        self.remb: float | None = None
        self.remb_at = -1e9
        self.started = now
        self.reason = "start"

    def prefer(self, preference: str) -> int:
        if preference not in PREFERENCES:
            raise ValueError(preference)
        self.preference = preference
        if preference != "auto":
            self.layer, self.reason = (HIGH if preference == "high" else LOW), "preference"
        return self.layer

    def on_remb(self, bitrate: float, now: float) -> None:
        if now - self.started >= self.WARMUP:
            self.remb, self.remb_at = bitrate, now

    def on_report(self, now: float, *, loss: float | None, high_bps: float) -> int | None:
        """Feed one receiver report; returns the new layer if the choice changed, else None."""
        if loss is not None:
            self.loss = loss
            self.lossy = self.lossy + 1 if loss > self.DOWN_LOSS else 0
        if self.preference != "auto":
            return None
        remb = self.remb if now - self.remb_at <= self.REMB_FRESH else None
        congested = (loss is not None and loss > self.DOWN_LOSS_NOW) or self.lossy >= 2
        starved = self.layer == HIGH and remb is not None and high_bps > 0 and remb < high_bps * self.REMB_DOWN
        if self.layer == HIGH and (congested or starved):
            # A switch back up that fails soon after doubles the wait before the next try.
            if self.last_up is not None and now - self.last_up < 30:
                self.hold = min(self.hold * 2, self.max_hold)
            self.layer, self.next_up = LOW, now + self.hold
            self.reason = "loss" if congested else "bandwidth"
            return LOW
        if self.layer == LOW and not congested and now >= self.next_up:
            if self.loss is None or self.loss <= self.UP_LOSS:
                if self.last_up is not None and now - self.last_up > 120:
                    self.hold = self.base_hold  # stable for a while: forget old flaps
                self.layer, self.last_up, self.reason = HIGH, now, "recovered"
                return HIGH
        return None

    @property
    def quality(self) -> str:
        """Network quality as staff see it: good / fair / poor (from the latest report)."""
        if self.loss is None:
            return "unknown"
        if self.loss > self.DOWN_LOSS or self.lossy >= 2:
            return "poor"
        if self.loss > self.UP_LOSS or self.layer == LOW:
            return "fair"
        return "good"
