"""The call's outgoing audio track: synthesized replies, and silence between them.

aiortc pulls a 20 ms frame from `recv` whenever it wants one; the track paces itself on the
wall clock (as aiortc's own `AudioStreamTrack` does) and tells its listener when a reply starts,
how far it has got, and when it ends, which is what the session core's transcript follows.
"""

from __future__ import annotations

import asyncio
import fractions
import time
from typing import Protocol

import av
import numpy as np
from aiortc.mediastreams import MediaStreamTrack

SAMPLE_RATE = 48000
FRAME_SAMPLES = SAMPLE_RATE // 50
_TIME_BASE = fractions.Fraction(1, SAMPLE_RATE)


class PlaybackListener(Protocol):
    def playback_started(self, response_id: str) -> None: ...
    def playback_progress(self, response_id: str, played_ms: int) -> None: ...
    def playback_finished(self, response_id: str, played_ms: int) -> None: ...


class SpeechTrack(MediaStreamTrack):
    kind = "audio"

    def __init__(self, listener: PlaybackListener) -> None:
        super().__init__()
        self._listener = listener
        self._pts = 0
        self._start: float | None = None
        self._response_id: str | None = None
        self._samples = np.zeros(0, np.int16)
        self._position = 0

    def play(self, response_id: str, samples_48k: np.ndarray) -> None:
        self._response_id, self._samples, self._position = response_id, samples_48k, 0

    def stop(self) -> int:
        """Cut the current reply; returns how many ms of it were played."""
        played_ms = self._position * 1000 // SAMPLE_RATE
        self._response_id, self._samples, self._position = None, np.zeros(0, np.int16), 0
        return played_ms

    async def recv(self) -> av.AudioFrame:
        await self._pace()
        chunk = self._next_chunk()
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = SAMPLE_RATE, self._pts, _TIME_BASE
        self._pts += FRAME_SAMPLES
        return frame

    async def _pace(self) -> None:
        if self._start is None:
            self._start = time.monotonic()
            return
        wait = self._start + self._pts / SAMPLE_RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)

    def _next_chunk(self) -> np.ndarray:
        response_id = self._response_id
        if response_id is None:
            return np.zeros(FRAME_SAMPLES, np.int16)
        if self._position == 0:
            self._listener.playback_started(response_id)
        chunk = self._samples[self._position : self._position + FRAME_SAMPLES]
        self._position += len(chunk)
        played_ms = self._position * 1000 // SAMPLE_RATE
        if self._position >= len(self._samples):
            self.stop()
            self._listener.playback_finished(response_id, played_ms)
        else:
            self._listener.playback_progress(response_id, played_ms)
        return np.pad(chunk, (0, FRAME_SAMPLES - len(chunk)))
