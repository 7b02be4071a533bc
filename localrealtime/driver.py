"""Runs one session core on the event loop: the glue every transport shares.

The driver feeds the core (client events, audio-derived facts, transcripts, playback progress),
carries out the effects it returns — recognition in the worker processes, synthesis in a
thread, playback on the call's track — and hands each server event, serialised once, to every
listener (the call's data channel, sideband sockets, a WebSocket session).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from localrealtime.responses import Play, Speak, StopPlayback
from localrealtime.session import AppendAudio, ClearAudio, Close, RealtimeSession, Transcribe
from localrealtime.speech import synthesis
from localrealtime.speech.playback import SAMPLE_RATE as TRACK_RATE
from localrealtime.speech.playback import SpeechTrack
from localrealtime.speech.recognition import RecognitionBusy, Recognizer
from localrealtime.speech.resampling import PcmResampler, convert
from localrealtime.speech.vad import SAMPLE_RATE, SpeechStarted, TurnDetector

logger = logging.getLogger(__name__)
Listener = Callable[[str], None]
# Push-to-talk audio kept until a commit: enough for a long turn, bounded against a stuck client.
MAX_BUFFER_BYTES = SAMPLE_RATE * 2 * 120


class SessionDriver:
    def __init__(
        self,
        core: RealtimeSession,
        *,
        recognizer: Recognizer,
        max_seconds: int,
        on_close: Callable[[int, str], None],
    ) -> None:
        self.core = core
        self.track: SpeechTrack | None = None
        self._recognizer, self._max_seconds, self._on_close = recognizer, max_seconds, on_close
        self._listeners: list[Listener] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._buffer = bytearray()
        self._utterance: bytes | None = None
        self._detector, self._detection = self._new_detector(), core.turn_detection
        self._from_24k = PcmResampler(SAMPLE_RATE)
        self._speech: dict[str, Any] = {}

    # --- listeners and lifetime ----------------------------------------------------------------
    def listen(self, listener: Listener) -> None:
        self._listeners.append(listener)

    def unlisten(self, listener: Listener) -> None:
        if listener in self._listeners:
            self._listeners.remove(listener)

    def start(self, *, announce: bool = True) -> None:
        self._spawn(self._expire_later())
        if announce:
            self._run(self.core.start())

    def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        self._listeners.clear()

    # --- input -------------------------------------------------------------------------------
    def receive(self, raw: str | bytes) -> None:
        self._run(self.core.receive(raw, _now()))
        if self.core.turn_detection != self._detection and not self._detector.in_speech:
            self._detector, self._detection = self._new_detector(), self.core.turn_detection

    def feed_audio(self, pcm16_16k: bytes) -> None:
        """Caller audio at 16 kHz mono, from the track or from `input_audio_buffer.append`."""
        if len(self._buffer) < MAX_BUFFER_BYTES:
            self._buffer += pcm16_16k
        self.core.audio_received(len(pcm16_16k) * 1000 // (SAMPLE_RATE * 2))
        if self.core.turn_detection is None:
            return
        for turn in self._detector.feed(pcm16_16k):
            if isinstance(turn, SpeechStarted):
                self._run(self.core.speech_started(turn.audio_start_ms))
            else:
                self._utterance = turn.pcm16
                self._run(self.core.speech_stopped(turn.audio_end_ms))

    # --- playback facts (the track calls these) ------------------------------------------------
    def playback_started(self, response_id: str) -> None:
        self._run(self.core.responses.playback_started(response_id))

    def playback_progress(self, response_id: str, played_ms: int) -> None:
        self._run(self.core.responses.playback_progress(response_id, played_ms))

    def playback_finished(self, response_id: str, played_ms: int) -> None:
        self._speech.pop(response_id, None)
        self._run(self.core.responses.playback_finished(response_id, played_ms))

    # --- effects -----------------------------------------------------------------------------
    def _run(self, outputs: list[Any]) -> None:
        for output in outputs:
            if isinstance(output, dict):
                self._emit(json.dumps(output))
            else:
                self._apply(output)

    def _emit(self, message: str) -> None:
        for listener in list(self._listeners):
            listener(message)

    def _apply(self, effect: Any) -> None:
        if isinstance(effect, Transcribe):
            pcm = self._utterance if self._utterance is not None else bytes(self._buffer)
            self._utterance, self._buffer = None, bytearray()
            self._spawn(self._transcribe(effect.item_id, pcm))
        elif isinstance(effect, Speak):
            self._spawn(self._speak(effect))
        elif isinstance(effect, Play) and self.track is not None:
            self.track.play(effect.response_id, self._speech.pop(effect.response_id))
        elif isinstance(effect, StopPlayback):
            played_ms = self.track.stop() if self.track is not None else 0
            self._run(self.core.responses.playback_stopped(effect.response_id, played_ms))
        elif isinstance(effect, AppendAudio):
            self.feed_audio(self._from_24k.pcm(effect.pcm16_24k, 24000))
        elif isinstance(effect, ClearAudio):
            self._buffer, self._detector = bytearray(), self._new_detector()
        elif isinstance(effect, Close):
            self._on_close(effect.code, effect.reason)

    async def _transcribe(self, item_id: str, pcm: bytes) -> None:
        try:
            transcript = await self._recognizer.transcribe(pcm)
        except RecognitionBusy as exc:
            self._run(self.core.transcription_failed(item_id, str(exc), _now()))
            return
        self._run(self.core.transcribed(item_id, transcript, _now()))

    async def _speak(self, effect: Speak) -> None:
        voice = synthesis.espeak_voice(effect.voice)
        speech = await asyncio.to_thread(synthesis.synthesize, effect.text, voice)
        rate = TRACK_RATE if self.track is not None else 24000
        samples = await asyncio.to_thread(convert, speech.samples, speech.sample_rate, rate)
        self._speech[effect.response_id] = samples
        pcm = b"" if self.track is not None else samples.tobytes()
        self._run(
            self.core.responses.speech_ready(
                effect.response_id, speech.words, speech.duration_ms, pcm
            )
        )
        # A `Play` took the samples; otherwise the response was cancelled while synthesizing.
        self._speech.pop(effect.response_id, None)

    async def _expire_later(self) -> None:
        await asyncio.sleep(self._max_seconds)
        self._run(self.core.expire())

    def _spawn(self, coroutine: Any) -> None:
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("Session task failed", exc_info=task.exception())

    def _new_detector(self) -> TurnDetector:
        detection = self.core.turn_detection or {}
        return TurnDetector(
            silence_ms=int(detection.get("silence_duration_ms") or 500),
            prefix_ms=int(detection.get("prefix_padding_ms") or 300),
        )


def _now() -> datetime:
    return datetime.now(UTC)
