"""Liveness: a random head-turn-and-blink challenge, judged from the frames of the student's stream.

Face matching alone is beaten by a photo of the student held up to the camera, or by a recorded
video of them; GB/T 38671-2020 asks for a liveness check before remote face comparison. The
student page shows a challenge made here — turn the head left or right, and blink, in a random
order, each step in its own time window — and the server records a few seconds of the camera
stream and measures, on every frame, the head's yaw and the eyes' aspect ratio (media/facemesh.py).

The judge passes a challenge only when, against the person's own baseline (the frames before the
first step):
- the yaw moves at least ``turn_deg`` towards the asked side, first within the turn step's window;
- the head never turns ``turn_deg`` the other way (a video of someone looking about fails);
- the eyes close below ``blink_ratio`` of their open aspect ratio within the blink step's window
  and open again (a photo never blinks; a photo turned in the hand squeezes evenly and shows no yaw);
- the head is steady when the prompt appears (the frames before the first step);
- one face is seen in most frames, never several.
A looped video of the right face passes only if it happens to turn the asked way, in the asked
window, and never the other way: about one in four of its attempts at best, and every check is
logged; random checks through the lesson make a replay fail soon.
"""
from __future__ import annotations

import random
import statistics
import uuid
from dataclasses import asdict, dataclass, field

LEFT, RIGHT, BLINK = "turn_left", "turn_right", "blink"
STEP_TEXT = {
    LEFT: ("请向左转头，再转回正面", "Turn your head to your left, then back"),
    RIGHT: ("请向右转头，再转回正面", "Turn your head to your right, then back"),
    BLINK: ("请眨眨眼", "Blink your eyes"),
}
REASONS = {
    "no_video": ("没有收到摄像头画面", "No camera picture arrived"),
    "face_not_seen": ("未能持续看到人脸", "The face was not seen through the check"),
    "several_faces": ("画面中有多张人脸", "Several faces in the picture"),
    "not_steady": ("提示出现时请正对屏幕保持不动", "Look steadily at the screen when the prompt appears"),
    "no_turn": ("未检测到按要求转头", "No head turn in the asked direction"),
    "wrong_direction": ("转头方向不对", "The head turned the wrong way"),
    "turn_too_early": ("提示出现前已转头", "The head turned before the prompt"),
    "no_blink": ("未检测到眨眼", "No blink seen"),
    "mismatch": ("不是登记的学员本人", "Not the registered student"),
}


@dataclass(frozen=True)
class LivenessSettings:
    turn_deg: float = 15.0  # yaw change towards the asked side (face-pipeline notes: > 15°)
    blink_ratio: float = 0.8  # eyes closed: aspect ratio below this share of the open baseline
    reopen_ratio: float = 0.9  # ... and open again above this share afterwards
    lead_s: float = 1.5  # from the prompt to the first step: the baseline frames
    step_s: float = 3.0  # each step's window
    slack_s: float = 1.5  # reaction and network delay allowed after a window
    min_face_share: float = 0.6  # of the frames, with exactly one face
    min_frames: int = 8
    frontal_deg: float = 12.0  # blinks are read on frames within this yaw of the baseline
    steady_deg: float = 10.0  # the baseline frames (before the first step) move less than this

    @property
    def clip_s(self) -> float:
        return self.lead_s + 2 * self.step_s + self.slack_s


@dataclass(frozen=True)
class Step:
    action: str
    start: float  # seconds after the prompt
    end: float


@dataclass(frozen=True)
class Challenge:
    id: str
    steps: tuple[Step, ...]
    clip_s: float

    @property
    def direction(self) -> str:
        return next(s.action for s in self.steps if s.action != BLINK)

    def message(self) -> dict:
        """What the student page needs to show the challenge (it judges nothing itself)."""
        return {"id": self.id, "seconds": self.clip_s,
                "steps": [{"action": s.action, "start": s.start, "end": s.end,
                           "zh": STEP_TEXT[s.action][0], "en": STEP_TEXT[s.action][1]} for s in self.steps]}

    def as_dict(self) -> dict:
        return {"id": self.id, "clip_s": self.clip_s, "steps": [asdict(s) for s in self.steps]}

    @classmethod
    def from_dict(cls, data: dict) -> "Challenge":
        return cls(data["id"], tuple(Step(**s) for s in data["steps"]), data["clip_s"])


def new_challenge(settings: LivenessSettings = LivenessSettings(), rng: random.Random | None = None) -> Challenge:
    """A random direction and a random order of the two steps."""
    rng = rng or random.SystemRandom()
    turn = rng.choice((LEFT, RIGHT))
    order = [turn, BLINK] if rng.random() < 0.5 else [BLINK, turn]
    steps, t = [], settings.lead_s
    for action in order:
        steps.append(Step(action, t, t + settings.step_s))
        t += settings.step_s
    return Challenge(uuid.uuid4().hex[:12], tuple(steps), settings.clip_s)


@dataclass(frozen=True)
class Observation:
    """One decoded frame: seconds after the prompt, faces seen, and the mesh's yaw and eye ratio
    when exactly one face was measured."""
    t: float
    faces: int
    yaw: float | None = None
    ear: float | None = None


@dataclass
class Verdict:
    passed: bool
    reasons: list[str] = field(default_factory=list)
    frames: int = 0
    face_frames: int = 0
    baseline_yaw: float | None = None
    turn_deg: float | None = None  # the largest yaw change towards the asked side
    turned_at: float | None = None
    eye_ratio: float | None = None  # the lowest eye ratio in the blink window, share of baseline
    blinked_at: float | None = None

    def as_dict(self) -> dict:
        out = asdict(self)
        for k, v in out.items():
            if isinstance(v, float):
                out[k] = round(v, 3)
        return out


def judge(challenge: Challenge, seen: list[Observation], settings: LivenessSettings = LivenessSettings()) -> Verdict:
    seen = sorted(seen, key=lambda o: o.t)
    measured = [o for o in seen if o.faces == 1 and o.yaw is not None and o.ear is not None]
    v = Verdict(False, frames=len(seen), face_frames=len(measured))
    if not seen:
        v.reasons.append("no_video")
        return v
    if any(o.faces > 1 for o in seen):
        v.reasons.append("several_faces")
    if len(measured) < settings.min_frames or len(measured) < settings.min_face_share * len(seen):
        v.reasons.append("face_not_seen")
        if len(measured) < 3:
            return v
    first_step = min(s.start for s in challenge.steps)
    before = [o for o in measured if o.t < first_step] or measured[:3]
    base_yaw = statistics.median(o.yaw for o in before)
    v.baseline_yaw = base_yaw
    if max(o.yaw for o in before) - min(o.yaw for o in before) > settings.steady_deg:
        v.reasons.append("not_steady")  # a head already moving when asked: a video, not an answer
    frontal = [o for o in measured if abs(o.yaw - base_yaw) <= settings.frontal_deg]
    base_ear = statistics.median(o.ear for o in frontal) if frontal else None

    turn = next(s for s in challenge.steps if s.action != BLINK)
    sign = 1.0 if turn.action == LEFT else -1.0
    toward = [(o.t, sign * (o.yaw - base_yaw)) for o in measured]
    v.turn_deg = max(d for _, d in toward)
    if min(d for _, d in toward) <= -settings.turn_deg:
        v.reasons.append("wrong_direction")
    crossed = next((t for t, d in toward if d >= settings.turn_deg), None)
    if crossed is None or crossed > turn.end + settings.slack_s:
        v.reasons.append("no_turn")
    elif crossed < turn.start - 0.25:
        v.reasons.append("turn_too_early")
    else:
        v.turned_at = crossed

    blink = next(s for s in challenge.steps if s.action == BLINK)
    window = [o for o in frontal if blink.start <= o.t <= blink.end + settings.slack_s]
    if base_ear and window:
        low = min(window, key=lambda o: o.ear)
        v.eye_ratio = low.ear / base_ear
        reopened = any(o.t > low.t and o.ear >= settings.reopen_ratio * base_ear for o in frontal)
        if v.eye_ratio <= settings.blink_ratio and reopened:
            v.blinked_at = low.t
    if v.blinked_at is None:
        v.reasons.append("no_blink")
    v.passed = not v.reasons
    return v
