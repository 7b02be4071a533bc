"""Speech recognition with PocketSphinx in a bounded pool of worker processes.

PocketSphinx holds the GIL while it decodes, so a thread pool would still stall the event loop
(field notes: 0.3-0.9 s). Each worker builds its decoder once, when the pool starts, and decodes
whole utterances: feeding 20 ms chunks garbled the first utterance.

This module must stay free of Django imports: the workers are spawned and import it afresh.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from concurrent.futures import ProcessPoolExecutor

import numpy as np

SAMPLE_RATE = 16000
_decoder = None


def _build_decoder() -> None:
    global _decoder
    from pocketsphinx import Decoder

    _decoder = Decoder(samprate=SAMPLE_RATE, loglevel="FATAL")
    # A calibration pass: the first utterance a fresh decoder hears comes out worse.
    _decode(np.zeros(SAMPLE_RATE // 2, np.int16).tobytes())


def _decode(pcm16: bytes) -> str:
    assert _decoder is not None, "the worker's initializer builds the decoder"
    _decoder.start_utt()
    _decoder.process_raw(pcm16, full_utt=True)
    _decoder.end_utt()
    hypothesis = _decoder.hyp()
    return hypothesis.hypstr if hypothesis else ""


def _ready() -> bool:
    return _decoder is not None


class RecognitionBusy(Exception):
    """More utterances are waiting than the pool may queue."""


class Recognizer:
    """Decodes 16 kHz mono PCM16 utterances in `processes` workers, at most `queue` waiting."""

    def __init__(self, *, processes: int, queue: int) -> None:
        context = multiprocessing.get_context("spawn")
        self._pool = ProcessPoolExecutor(processes, context, initializer=_build_decoder)
        self._processes = processes
        self._slots = asyncio.Semaphore(processes + queue)
        self._limit = processes + queue

    def warm_up_blocking(self) -> None:
        """Start every worker (and so build every decoder) now rather than mid-call."""
        for future in [self._pool.submit(_ready) for _ in range(self._processes)]:
            future.result()

    async def transcribe(self, pcm16: bytes) -> str:
        if self._slots.locked():
            raise RecognitionBusy(f"{self._limit} utterances already waiting")
        async with self._slots:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._pool, _decode, pcm16)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
