"""Offline speech for the talking photo: espeak-ng audio with phoneme and word timing, visemes,
and WebVTT subtitles.

espeak-ng is used as a library (libespeak-ng, from the Debian package `espeak-ng`) through
ctypes, in synchronous mode with phoneme events: its callback hands over the samples together
with an event per phoneme and per word, each with its position in the audio, so the timing is
the synthesizer's own, not a guess. (The command line gives phonemes with `-x` but no times;
`--pho` needs MBROLA voices.) One synthesizer per process, used under a lock.

Visemes: each phoneme (espeak's ASCII phoneme names, the same scheme for Korean and English)
maps to a mouth shape (jaw opening, spread, rounding, lips pressed); shapes are keyed at the
phoneme's middle and blended with their neighbours (coarticulation), lips closing fully for
p, b, m.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import re
import threading
from dataclasses import dataclass

import numpy as np

from ml.animate.rig import Expression
from ml.errors import CodedError

VOICES = {"en": "en-us", "ko": "ko"}
LANGUAGES = tuple(VOICES)
MAX_TEXT = 600  # characters
_HANGUL = re.compile(r"[\uac00-\ud7a3\u1100-\u11ff\u3130-\u318f]")

# espeak-ng's speak_lib.h
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_PHONEME_EVENTS = 0x0001
_CHARS_UTF8 = 1
_POS_CHARACTER = 1
_EVENT_WORD, _EVENT_SENTENCE, _EVENT_END, _EVENT_PHONEME = 1, 2, 5, 7
_PARAM_RATE = 1


class SpeechError(CodedError, RuntimeError):
    """Speech cannot be made; `code` is stable and machine readable."""


@dataclass(frozen=True)
class Phoneme:
    """One phoneme: espeak's name and its span in the audio (seconds)."""

    name: str
    start: float
    end: float


@dataclass(frozen=True)
class Word:
    """One word of the text and its span in the audio (seconds)."""

    text: str
    start: float
    end: float


@dataclass(frozen=True)
class Speech:
    """Synthesized speech: mono int16 samples, their rate, and the timing of what is said."""

    samples: np.ndarray
    sample_rate: int
    phonemes: list[Phoneme]
    words: list[Word]
    language: str

    @property
    def duration(self) -> float:
        """Length of the audio in seconds."""
        return len(self.samples) / self.sample_rate


class _Id(ctypes.Union):
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
        ("id", _Id),
    ]


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


def speech_available(library: str | None = None) -> bool:
    """Whether libespeak-ng can be found (without loading it)."""
    return bool(library or ctypes.util.find_library("espeak-ng"))


class Synthesizer:
    """libespeak-ng in one process; raises SpeechError `speech_unavailable` when not installed."""

    def __init__(self, library: str | None = None) -> None:
        """`library`: a path to libespeak-ng (default: found by name)."""
        path = library or ctypes.util.find_library("espeak-ng")
        try:
            if not path:
                raise OSError("libespeak-ng not found")
            self._lib = ctypes.CDLL(path)
        except OSError as exc:
            raise SpeechError(
                "speech_unavailable",
                "Speech is not available on this server: espeak-ng is not installed "
                "(Debian package espeak-ng). The talking photo needs it.",
            ) from exc
        self._lock = threading.Lock()
        self._lib.espeak_Initialize.restype = ctypes.c_int
        rate = self._lib.espeak_Initialize(
            _AUDIO_OUTPUT_SYNCHRONOUS, 0, None, _INITIALIZE_PHONEME_EVENTS
        )
        if rate <= 0:
            raise SpeechError("speech_unavailable", "espeak-ng could not start (no voice data).")
        self.sample_rate = int(rate)
        self._chunks: list[np.ndarray] = []
        self._events: list[tuple[int, int, int, int, str]] = []
        self._callback = _CALLBACK(self._collect)  # kept referenced for the library's lifetime
        self._lib.espeak_SetSynthCallback(self._callback)
        version = ctypes.c_char_p()
        self._lib.espeak_Info.restype = ctypes.c_char_p
        self.version = (
            "espeak-ng@" + (self._lib.espeak_Info(ctypes.byref(version)) or b"?").decode()
        )

    def _collect(self, wav, count, events) -> int:
        if wav and count > 0:
            self._chunks.append(np.ctypeslib.as_array(wav, shape=(count,)).copy())
        i = 0
        while events[i].type != 0:
            e = events[i]
            name = bytes(e.id.string).split(b"\0")[0].decode("ascii", "replace")
            self._events.append((e.type, e.sample, e.text_position, e.length, name))
            i += 1
        return 0

    def speak(self, text: str, language: str = "auto", words_per_minute: int = 150) -> Speech:
        """Synthesize `text` in `language` (en, ko, or auto from the script)."""
        text = " ".join(str(text).split())
        if not text:
            raise SpeechError("empty_text", "There is no text to speak.")
        if len(text) > MAX_TEXT:
            raise SpeechError("text_too_long", f"The text is over {MAX_TEXT} characters.")
        if language == "auto":
            language = "ko" if _HANGUL.search(text) else "en"
        if language not in VOICES:
            raise SpeechError(
                "bad_language", f"Unknown language {language!r}; choose {', '.join(VOICES)}."
            )
        data = text.encode("utf-8")
        with self._lock:
            self._chunks, self._events = [], []
            if self._lib.espeak_SetVoiceByName(VOICES[language].encode()) != 0:
                raise SpeechError(
                    "speech_unavailable", f"espeak-ng has no {language} voice on this server."
                )
            self._lib.espeak_SetParameter(_PARAM_RATE, int(words_per_minute), 0)
            status = self._lib.espeak_Synth(
                data, len(data) + 1, 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None
            )
            self._lib.espeak_Synchronize()
            chunks, events = self._chunks, self._events
        if status != 0 or not chunks:
            raise SpeechError("speech_failed", "espeak-ng produced no audio for the text.")
        samples = np.concatenate(chunks).astype(np.int16)
        return _timed(text, samples, self.sample_rate, events, language)


def _timed(text, samples, rate, events, language) -> Speech:
    duration = len(samples) / rate
    phonemes: list[Phoneme] = []
    marks = [(s / rate, name) for kind, s, _, _, name in events if kind == _EVENT_PHONEME]
    for k, (start, name) in enumerate(marks):
        end = marks[k + 1][0] if k + 1 < len(marks) else duration
        if end > start:
            phonemes.append(Phoneme(name, start, end))
    # Words are the text's own (punctuation kept), timed by espeak's word events: a word starts
    # at the first event inside it; one espeak merged into its neighbour starts where that ends.
    word_marks = sorted(
        (pos - 1, sample / rate) for kind, sample, pos, _, _ in events if kind == _EVENT_WORD
    )
    tokens = [(m.start(), m.end(), m.group()) for m in re.finditer(r"\S+", text)]
    starts: list[float | None] = []
    for begin, end, _ in tokens:
        inside = [t for p, t in word_marks if begin <= p < end]
        starts.append(min(inside) if inside else None)
    spoken_end = max((p.end for p in phonemes if not p.name.startswith("_")), default=duration)
    words: list[Word] = []
    for k, (_, _, token) in enumerate(tokens):
        start = starts[k] if starts[k] is not None else (words[-1].end if words else 0.0)
        later = [t for t in starts[k + 1 :] if t is not None]
        end = later[0] if later else spoken_end
        words.append(Word(token, start, max(end, start)))
    return Speech(samples, rate, phonemes, words, language)


# -- visemes -------------------------------------------------------------------------------------

# (jaw, spread, round, press) per mouth shape.
SHAPES = {
    "rest": (0.0, 0.0, 0.0, 0.3),
    "closed": (0.0, 0.0, 0.0, 1.0),  # p b m
    "teeth_lip": (0.08, 0.15, 0.0, 0.5),  # f v
    "open": (0.75, 0.1, 0.0, 0.0),  # a
    "mid": (0.45, 0.25, 0.0, 0.0),  # e, schwa
    "spread": (0.22, 0.7, 0.0, 0.0),  # i
    "round_open": (0.45, 0.0, 0.6, 0.0),  # o
    "round": (0.2, 0.0, 0.95, 0.0),  # u, w
    "alveolar": (0.2, 0.25, 0.0, 0.0),  # t d n l s z r
    "post": (0.22, 0.0, 0.45, 0.0),  # sh, ch
    "velar": (0.32, 0.05, 0.0, 0.0),  # k g ng h
}


def viseme(name: str) -> str:
    """The mouth shape of an espeak phoneme name."""
    if not name or name.startswith("_"):
        return "rest"
    core = name.lstrip("'`,%=")
    if not core:
        return "rest"
    if core[:2] in ("tS", "dZ") or core[0] in "SZcJC":
        return "post"
    first = core[0]
    if first in "pbm":
        return "closed"
    if first in "fv":
        return "teeth_lip"
    if first in "aA&V":
        return "open"
    if first in "eE@3":
        return "mid"
    if first in "iIj":
        return "spread"
    if first in "oO":
        return "round_open"
    if first in "uUwyYW":
        return "round"
    if first in "tdnlszTDrRL":
        return "alveolar"
    if first in "kgNhxqGQ?":
        return "velar"
    return "mid"


def mouth_track(speech: Speech, fps: float, frames: int) -> list[Expression]:
    """Per-frame mouth expression for the speech (coarticulated visemes)."""
    times = np.arange(frames) / fps
    if not speech.phonemes:
        return [Expression() for _ in times]
    centres = np.array([(p.start + p.end) / 2 for p in speech.phonemes])
    lengths = np.array([max(p.end - p.start, 0.02) for p in speech.phonemes])
    shapes = [viseme(p.name) for p in speech.phonemes]
    values = np.array([SHAPES[s] for s in shapes])
    # Lips must really close for p, b, m: such phonemes weigh more in the blend.
    dominance = np.array([3.0 if s == "closed" else 1.0 for s in shapes])
    sigma = np.clip(lengths * 0.6, 0.03, 0.09)
    weights = dominance * np.exp(-((times[:, None] - centres[None]) ** 2) / (2 * sigma[None] ** 2))
    weights += 1e-6
    blended = weights @ values / weights.sum(axis=1, keepdims=True)
    return [
        Expression(jaw=float(j), spread=float(s), round=float(r), press=float(p))
        for j, s, r, p in blended
    ]


# -- subtitles -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Cue:
    """One subtitle: its text and span (seconds)."""

    text: str
    start: float
    end: float


def cues(speech: Speech, max_chars: int = 42) -> list[Cue]:
    """The words grouped into subtitle cues of at most `max_chars`, split after sentence ends."""
    out: list[Cue] = []
    group: list[Word] = []
    for word in speech.words:
        candidate = " ".join(w.text for w in [*group, word])
        if group and len(candidate) > max_chars:
            out.append(_cue(group))
            group = []
        group.append(word)
        if word.text.rstrip().endswith((".", "!", "?", "。")):
            out.append(_cue(group))
            group = []
    if group:
        out.append(_cue(group))
    # Each cue stays up until the next begins (no flicker between words).
    return [
        Cue(c.text, c.start, out[k + 1].start if k + 1 < len(out) else speech.duration)
        for k, c in enumerate(out)
    ]


def _cue(words: list[Word]) -> Cue:
    return Cue(" ".join(w.text for w in words), words[0].start, words[-1].end)


def webvtt(items: list[Cue]) -> str:
    """The cues as a WebVTT file."""
    lines = ["WEBVTT", ""]
    for k, cue in enumerate(items, 1):
        text = cue.text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        lines += [str(k), f"{_stamp(cue.start)} --> {_stamp(cue.end)}", text, ""]
    return "\n".join(lines)


def _stamp(seconds: float) -> str:
    ms = max(0, round(seconds * 1000))
    h, ms = divmod(ms, 3_600_000)
    m, ms = divmod(ms, 60_000)
    s, ms = divmod(ms, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"
