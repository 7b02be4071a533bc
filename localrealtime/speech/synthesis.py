"""Speech synthesis with eSpeak NG, loaded from the `espeakng-loader` wheel through ctypes.

eSpeak keeps global state and is not thread-safe, so every call goes through one lock; the
engine calls `synthesize` from a worker thread (ctypes releases the GIL while eSpeak runs, and
two seconds of speech take about 20 ms).
"""

from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass

import espeakng_loader
import numpy as np

_AUDIO_OUTPUT_RETRIEVAL = 1
_CHARS_UTF8 = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_PARAM_RATE = 1
WORDS_PER_MINUTE = 150
# en-us+f2 is the voice PocketSphinx recognises best (field notes); the "male" OpenAI voices get
# a male variant so that `audio.output.voice` audibly matters.
_MALE_VOICES = {"ash", "echo", "verse", "cedar"}


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass(frozen=True)
class Speech:
    """Synthesized speech: mono PCM16 samples and when each word starts (ms from the start)."""

    samples: np.ndarray
    sample_rate: int
    text: str
    # (ms from the start at which a word begins, index in `text` just past that word)
    words: list[tuple[int, int]]

    def spoken_text(self, played_ms: int) -> str:
        """The text up to the end of the last word that had started by `played_ms`."""
        ends = [end for start_ms, end in self.words if start_ms <= played_ms]
        return self.text[: ends[-1]] if ends else ""

    @property
    def duration_ms(self) -> int:
        return len(self.samples) * 1000 // self.sample_rate


def espeak_voice(openai_voice: str) -> str:
    return "en-us+m3" if openai_voice in _MALE_VOICES else "en-us+f2"


class _Espeak:
    def __init__(self) -> None:
        self._lib = ctypes.CDLL(espeakng_loader.get_library_path())
        data_parent = espeakng_loader.get_data_path().rsplit("/", 1)[0].encode()
        self.sample_rate = self._lib.espeak_Initialize(_AUDIO_OUTPUT_RETRIEVAL, 0, data_parent, 0)
        if self.sample_rate <= 0:
            raise RuntimeError("eSpeak NG failed to initialise")
        self._lib.espeak_SetParameter(_PARAM_RATE, WORDS_PER_MINUTE, 0)
        self._chunks: list[np.ndarray] = []
        self._word_events: list[tuple[int, int, int]] = []
        # Kept on self: ctypes would otherwise free the callback while eSpeak still holds it.
        self._callback = _CALLBACK(self._on_audio)
        self._lib.espeak_SetSynthCallback(self._callback)

    def _on_audio(self, wav, count, events) -> int:  # type: ignore[no-untyped-def]
        if count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        index = 0
        while events[index].type != _EVENT_LIST_TERMINATED:
            event = events[index]
            if event.type == _EVENT_WORD:
                self._word_events.append((event.audio_position, event.text_position, event.length))
            index += 1
        return 0

    def speak(self, text: str, voice: str) -> Speech:
        self._chunks, self._word_events = [], []
        self._lib.espeak_SetVoiceByName(voice.encode())
        encoded = text.encode()
        self._lib.espeak_Synth(encoded, len(encoded) + 1, 0, 0, 0, _CHARS_UTF8, None, None)
        self._lib.espeak_Synchronize()
        samples = np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.int16)
        return Speech(samples, self.sample_rate, text, _word_ends(text, self._word_events))


def _word_ends(text: str, events: list[tuple[int, int, int]]) -> list[tuple[int, int]]:
    """Turn eSpeak's word events (1-based UTF-8 byte positions) into character ends in `text`."""
    encoded = text.encode()
    ends = []
    for audio_ms, position, length in events:
        end = len(encoded[: position - 1 + length].decode(errors="ignore"))
        # A trailing punctuation mark belongs to the word that precedes it.
        while end < len(text) and text[end] in ".,;:!?":
            end += 1
        ends.append((audio_ms, end))
    ends[-1:] = [(ends[-1][0], len(text))] if ends else []
    return ends


_lock = threading.Lock()
_engine: _Espeak | None = None


def synthesize(text: str, voice: str = "en-us+f2") -> Speech:
    """Speak `text` with an eSpeak NG voice name; blocking, safe from any thread."""
    global _engine
    with _lock:
        if _engine is None:
            _engine = _Espeak()
        return _engine.speak(text, voice)
