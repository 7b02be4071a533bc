"""Voice activity detection over 16 kHz PCM16 (webrtcvad), as a sans-I/O object.

Feed audio in any chunk size; get back the turn boundaries it completes. Times are in ms of
audio fed so far, which is the clock `audio_start_ms` / `audio_end_ms` use.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import webrtcvad

SAMPLE_RATE = 16000
FRAME_MS = 20
FRAME_BYTES = SAMPLE_RATE * FRAME_MS // 1000 * 2
# Speech starts when this many of the last START_WINDOW frames are voiced.
START_WINDOW = 10
START_VOICED = 6


@dataclass(frozen=True)
class SpeechStarted:
    audio_start_ms: int


@dataclass(frozen=True)
class SpeechStopped:
    audio_end_ms: int
    pcm16: bytes


class TurnDetector:
    def __init__(self, *, silence_ms: int = 500, prefix_ms: int = 300, aggressiveness: int = 2):
        self._vad = webrtcvad.Vad(aggressiveness)
        self._silence_frames = max(1, silence_ms // FRAME_MS)
        self._prefix: deque[bytes] = deque(maxlen=max(START_WINDOW, prefix_ms // FRAME_MS))
        self._recent: deque[bool] = deque(maxlen=START_WINDOW)
        self._pending = b""
        self._frames_fed = 0
        self._utterance: list[bytes] | None = None
        self._silent_run = 0

    @property
    def in_speech(self) -> bool:
        return self._utterance is not None

    def feed(self, pcm16: bytes) -> list[SpeechStarted | SpeechStopped]:
        self._pending += pcm16
        events: list[SpeechStarted | SpeechStopped] = []
        while len(self._pending) >= FRAME_BYTES:
            frame, self._pending = self._pending[:FRAME_BYTES], self._pending[FRAME_BYTES:]
            self._frames_fed += 1
            event = self._frame(frame, self._vad.is_speech(frame, SAMPLE_RATE))
            if event is not None:
                events.append(event)
        return events

    def _frame(self, frame: bytes, voiced: bool) -> SpeechStarted | SpeechStopped | None:
        if self._utterance is None:
            self._prefix.append(frame)
            self._recent.append(voiced)
            if sum(self._recent) < START_VOICED:
                return None
            self._utterance, self._silent_run = list(self._prefix), 0
            start_frames = self._frames_fed - len(self._utterance)
            return SpeechStarted(audio_start_ms=start_frames * FRAME_MS)
        self._utterance.append(frame)
        self._silent_run = 0 if voiced else self._silent_run + 1
        if self._silent_run < self._silence_frames:
            return None
        pcm, self._utterance = b"".join(self._utterance), None
        self._prefix.clear()
        self._recent.clear()
        return SpeechStopped(audio_end_ms=self._frames_fed * FRAME_MS, pcm16=pcm)
