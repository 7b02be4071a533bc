"""An aiortc caller for the engine's tests and benchmarks: microphone in, events and audio out.

It behaves as the browser client does: adds a microphone track, opens the `oai-events` data
channel, posts its offer, and records every server event and the reply audio it hears.
"""

from __future__ import annotations

import asyncio
import fractions
import json
import time
from typing import Any

import av
import numpy as np
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

RATE = 48000
FRAME = RATE // 50
# An RMS above this (PCM16) counts as sound; Opus-coded silence stays far below it.
SOUND_RMS = 200


class Microphone(MediaStreamTrack):
    """Plays queued PCM16 48 kHz mono in real time, then silence."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self._queue = np.zeros(0, np.int16)
        self._pts, self._start = 0, None
        self.speech_ended_at: float | None = None

    def say(self, samples: np.ndarray) -> None:
        self._queue = np.concatenate([self._queue, samples])
        self.speech_ended_at = None

    async def recv(self) -> av.AudioFrame:
        if self._start is None:
            self._start = time.monotonic()
        wait = self._start + self._pts / RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        chunk, self._queue = self._queue[:FRAME], self._queue[FRAME:]
        if len(chunk) and not len(self._queue):
            self.speech_ended_at = time.monotonic()
        chunk = np.pad(chunk, (0, FRAME - len(chunk)))
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts = RATE, self._pts
        frame.time_base = fractions.Fraction(1, RATE)
        self._pts += FRAME
        return frame


class Caller:
    def __init__(self) -> None:
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.microphone = Microphone()
        self.pc.addTrack(self.microphone)
        self.channel = self.pc.createDataChannel("oai-events")
        self.events: list[dict[str, Any]] = []
        self.arrivals: list[float] = []
        self.loud_frames: list[float] = []
        self._new_event = asyncio.Event()
        self.heard_sound = asyncio.Event()
        self.channel.on("message", self._on_message)
        self.pc.on("track", self._on_track)

    async def offer(self) -> str:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        return self.pc.localDescription.sdp

    async def accept(self, answer_sdp: str) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(answer_sdp, "answer"))

    def send(self, event: dict[str, Any]) -> None:
        self.channel.send(json.dumps(event))

    def _on_message(self, message: str) -> None:
        self.events.append(json.loads(message))
        self.arrivals.append(time.monotonic())
        self._new_event.set()

    def _on_track(self, track: MediaStreamTrack) -> None:
        asyncio.get_running_loop().create_task(self._listen(track))

    async def _listen(self, track: MediaStreamTrack) -> None:
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            samples = frame.to_ndarray().astype(np.float64)
            if np.sqrt(np.mean(samples**2)) > SOUND_RMS:
                self.loud_frames.append(time.monotonic())
                self.heard_sound.set()

    async def wait_for(
        self, type: str, within: float = 30, *, after: int = 0, **match: Any
    ) -> dict[str, Any]:
        """The first event of `type` (fields equal to `match`) from index `after` on, waiting
        up to `within` seconds for it."""
        deadline = time.monotonic() + within
        while True:
            for event in self.events[after:]:
                if event["type"] == type and all(event.get(k) == v for k, v in match.items()):
                    return event
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                seen = [event["type"] for event in self.events]
                raise AssertionError(f"no {type} within {within} s; saw {seen}")
            self._new_event.clear()
            try:
                await asyncio.wait_for(self._new_event.wait(), remaining)
            except TimeoutError:
                continue

    def types(self) -> list[str]:
        return [event["type"] for event in self.events]

    async def close(self) -> None:
        await self.pc.close()
