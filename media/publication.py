"""Publication: one logical track a participant publishes — their camera, microphone or screen.

A publication has one or more layers (producers), best first. The lecturer's camera is published
twice at different resolutions (LIVE-3: aiortc cannot receive simulcast, so the browser sends two
plain tracks); every subscriber sees one camera track and the SFU switches it between the layers.
Other publications have a single layer. Who receives a publication is decided by the room's
``wants`` predicate per subscriber (a student's camera goes to staff, never to other students).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from media.producer import Producer

# Sources a browser may publish, and the publication each one belongs to.
SOURCES = {"camera": "camera", "camera_low": "camera", "mic": "mic", "screen": "screen", "screen_audio": "screen_audio"}
LAYER_OF = {"camera": 0, "camera_low": 1}


@dataclass(eq=False)
class Publication:
    user_id: int
    role: str  # the publisher's room role (lecturer, student…)
    source: str  # camera | mic | screen | screen_audio
    kind: str  # audio | video
    layers: list["Producer"] = field(default_factory=list)
    display_name: str = ""
    pid: str = ""  # id within the room (publisher key + source): clients place tracks by it
    tags: dict = field(default_factory=dict)  # the caller's facts for its routing rules (e.g. assistant_id)

    @property
    def mime(self) -> str:
        return self.layers[0].mime

    @property
    def clock_rate(self) -> int:
        return self.layers[0].clock_rate

    def describe(self) -> dict:
        return {"pid": self.pid, "user_id": self.user_id, "role": self.role, "source": self.source,
                "kind": self.kind, "layers": len(self.layers), "display_name": self.display_name}
