"""One WebRTC call: an aiortc peer wrapped around a session driver.

The caller's Opus track is resampled to 16 kHz for voice activity detection and recognition;
the `oai-events` data channel the caller opens carries the JSON events; replies go out on our
`SpeechTrack`. A call ends on hang-up, when its peer connection fails or closes, or at the
maximum session length.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from typing import Any

from aiortc import RTCConfiguration, RTCDataChannel, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from django.conf import settings

from localrealtime import runtime
from localrealtime.driver import SessionDriver
from localrealtime.events import new_id
from localrealtime.session import RealtimeSession
from localrealtime.speech.playback import SpeechTrack
from localrealtime.speech.resampling import PcmResampler
from localrealtime.speech.vad import SAMPLE_RATE

logger = logging.getLogger(__name__)


class InvalidOffer(ValueError):
    pass


class Call:
    def __init__(self, call_id: str, session: dict[str, Any]) -> None:
        self.id = call_id
        # No STUN: on one machine (and behind our own TURN later) host candidates suffice.
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        core = RealtimeSession(session=session, transport="webrtc")
        self.driver = SessionDriver(
            core,
            recognizer=runtime.recognizer(),
            max_seconds=settings.LOCAL_REALTIME_MAX_SESSION_SECONDS,
            on_close=lambda code, reason: self.end_soon(),
        )
        self.driver.track = SpeechTrack(self.driver)
        self.on_end: list[Callable[[], None]] = []
        self._ended = False
        self._reader: asyncio.Task[None] | None = None
        self.pc.addTrack(self.driver.track)
        self.pc.on("datachannel", self._on_datachannel)
        self.pc.on("track", self._on_track)
        self.pc.on("connectionstatechange", self._on_state)

    async def answer(self, offer_sdp: str) -> str:
        try:
            await self.pc.setRemoteDescription(RTCSessionDescription(offer_sdp, "offer"))
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise InvalidOffer(str(exc)) from exc
        if not any(t.kind == "audio" for t in self.pc.getTransceivers()):
            raise InvalidOffer("The offer has no audio section.")
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        self.driver.start(announce=False)
        return self.pc.localDescription.sdp

    def _on_datachannel(self, channel: RTCDataChannel) -> None:
        # session.created goes to the caller only: a sideband gets none (protocol §3).
        channel.send(_first(self.driver.core.start()))
        self.driver.listen(lambda message: _send(channel, message))
        channel.on("message", self.driver.receive)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio" and self._reader is None:
            self._reader = asyncio.get_running_loop().create_task(self._read(track))

    async def _read(self, track: MediaStreamTrack) -> None:
        resampler = PcmResampler(SAMPLE_RATE)
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            self.driver.feed_audio(resampler.frame(frame))

    async def _on_state(self) -> None:
        if self.pc.connectionState in ("failed", "closed"):
            await self.end()

    def end_soon(self) -> None:
        asyncio.get_running_loop().create_task(self.end())

    async def end(self) -> None:
        """Hang up: idempotent, and frees the session slot."""
        if self._ended:
            return
        self._ended = True
        runtime.calls.remove(self.id)
        runtime.slots().release()
        self.driver.close()
        if self._reader is not None:
            self._reader.cancel()
        for callback in self.on_end:
            callback()
        await self.pc.close()


async def start_call(offer_sdp: str, session: dict[str, Any]) -> Call:
    """Answer `offer_sdp`; the caller has taken a session slot, which the call now owns."""
    call = Call(new_id("rtc"), session)
    runtime.calls.add(call.id, call)
    try:
        await call.answer(offer_sdp)
    except BaseException:
        await call.end()
        raise
    return call


async def end_all_calls() -> None:
    await asyncio.gather(*(call.end() for call in runtime.calls.all()))


def _first(outputs: list[Any]) -> str:
    return json.dumps(outputs[0])


def _send(channel: RTCDataChannel, message: str) -> None:
    if channel.readyState == "open":
        channel.send(message)
