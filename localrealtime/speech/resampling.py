"""Converting PCM between the rates the engine meets: 48 kHz (WebRTC), 24 kHz (WebSocket
events), 22.05 kHz (eSpeak) and 16 kHz (VAD and PocketSphinx), with libav's resampler."""

from __future__ import annotations

import av
import numpy as np


class PcmResampler:
    """Streams audio frames or mono PCM16 bytes to mono PCM16 bytes at `rate`."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)

    def frame(self, frame: av.AudioFrame) -> bytes:
        return b"".join(
            bytes(out.planes[0])[: out.samples * 2] for out in self._resampler.resample(frame)
        )

    def flush(self) -> bytes:
        return b"".join(
            bytes(out.planes[0])[: out.samples * 2] for out in self._resampler.resample(None)
        )

    def pcm(self, pcm16: bytes, from_rate: int) -> bytes:
        samples = np.frombuffer(pcm16, np.int16).reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = from_rate
        return self.frame(frame)


def convert(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """One-shot conversion of a whole mono PCM16 clip."""
    if from_rate == to_rate:
        return samples
    resampler = PcmResampler(to_rate)
    pcm = resampler.pcm(samples.astype(np.int16).tobytes(), from_rate) + resampler.flush()
    return np.frombuffer(pcm, np.int16)
