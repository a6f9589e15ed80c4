"""Mandarin voice prompts: rendered once at setup with espeak-ng, played with a volume.

`render_prompts(out_dir)` writes one WAV per key of texts.VOICE (`<key>.wav`) plus a
manifest of the texts they were made from, and re-renders only prompts whose text changed.
The files are generated, not committed: by default under data/voice of the checkout, or
wherever NONGBAO_VOICE_DIR points.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

from kiosk_app.texts import VOICE

log = logging.getLogger("kiosk.voice")

# espeak-ng's plain `cmn` voice spells Chinese characters with English letter names
# (请 -> "king three"); `cmn-latn-pinyin` reads them as Mandarin syllables with their tones.
ESPEAK_VOICE = "cmn-latn-pinyin"
ESPEAK_SPEED = 135  # words per minute; espeak's default 175 is too fast for older listeners
ESPEAK_AMPLITUDE = 180  # of 200; sox normalises the peak afterwards anyway
MANIFEST = "manifest.json"
DYNAMIC = "spoken"  # sub-folder for sentences made at run time (a result with its date)


class VoiceError(RuntimeError):
    pass


def default_voice_dir() -> Path:
    env = os.environ.get("NONGBAO_VOICE_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1] / "data" / "voice"


def _digest(text: str) -> str:
    settings = f"{ESPEAK_VOICE}|{ESPEAK_SPEED}|{ESPEAK_AMPLITUDE}"
    return hashlib.sha256(f"{settings}|{text}".encode()).hexdigest()[:16]


def phonemes(text: str, espeak: str | None = None) -> str:
    """espeak-ng's phoneme transcription of `text` in the kiosk's voice: what a listener
    will hear. Mandarin syllables carry tone numbers (55, 35, 214, 51); a switch to English
    shows as `(en)`."""
    exe = espeak or shutil.which("espeak-ng")
    if exe is None:
        raise VoiceError("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    cmd = [exe, "-x", "-q", "-v", ESPEAK_VOICE, text]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise VoiceError(f"espeak-ng failed: {done.stderr.strip()}")
    return done.stdout


def _render(exe: str, sox: str | None, text: str, wav: Path) -> None:
    raw = wav.with_name(f".{wav.stem}.raw.wav")
    cmd = [exe, "-v", ESPEAK_VOICE, "-s", str(ESPEAK_SPEED), "-a", str(ESPEAK_AMPLITUDE)]
    result = subprocess.run(
        [*cmd, "-w", str(raw), text], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0 or not raw.is_file():
        raise VoiceError(f"espeak-ng failed for {wav.stem!r}: {result.stderr.strip()}")
    if sox:
        # louder (normalised) with a short lead-in, so the first syllable is not clipped
        cmd = [sox, str(raw), str(wav), "norm", "-1", "pad", "0.15", "0.1"]
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise VoiceError(f"sox failed for {wav.stem!r}: {done.stderr.strip()}")
        raw.unlink()
    else:
        raw.replace(wav)


def render_prompts(
    out_dir: Path | str | None = None,
    prompts: dict[str, str] | None = None,
    espeak: str | None = None,
) -> list[Path]:
    """Render every prompt to `<out_dir>/<key>.wav`; returns the files (re)written."""
    out = Path(out_dir) if out_dir is not None else default_voice_dir()
    prompts = VOICE if prompts is None else prompts
    exe = espeak or shutil.which("espeak-ng")
    if exe is None:
        raise VoiceError("espeak-ng is not installed (Debian: apt-get install espeak-ng)")
    out.mkdir(parents=True, exist_ok=True)
    manifest_path = out / MANIFEST
    try:
        manifest: dict[str, str] = json.loads(manifest_path.read_text("utf-8"))
    except (OSError, ValueError):
        manifest = {}
    sox = shutil.which("sox")
    written: list[Path] = []
    for key, text in prompts.items():
        wav = out / f"{key}.wav"
        digest = _digest(text)
        if wav.is_file() and manifest.get(key) == digest:
            continue
        _render(exe, sox, text, wav)
        manifest[key] = digest
        written.append(wav)
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), "utf-8")
    return written


def missing_prompts(voice_dir: Path) -> list[str]:
    return [key for key in VOICE if not (voice_dir / f"{key}.wav").is_file()]


class VoicePlayer:
    """Plays `<key>.wav` with Kivy's SoundLoader; a new prompt cuts off the one playing.
    Missing files are logged once and skipped: the words are on screen anyway.

    `say(key, text)` speaks a sentence made at run time (a result with its date): it is
    rendered once with espeak-ng into `spoken/` and cached by its text; if that fails, the
    fixed prompt `key` is played instead. `repeat()` says the last prompt again (the big
    "再说一遍" button)."""

    def __init__(self, voice_dir: Path, volume: float = 0.9, enabled: bool = True) -> None:
        self.voice_dir = voice_dir
        self.volume = max(0.0, min(1.0, volume))
        self.enabled = enabled
        self._sounds: dict[Path, Any] = {}
        self._current: Any = None
        self._missing: set[Path] = set()
        self.played: list[str] = []
        self.spoken: list[str] = []  # the sentences said with say(), in order
        self._last: tuple[str, str | None] | None = None

    def play(self, key: str) -> None:
        self.played.append(key)
        self._last = (key, None)
        if self.enabled:
            self._start(self._load(self.voice_dir / f"{key}.wav"))

    def say(self, key: str, text: str) -> None:
        self.played.append(key)
        self.spoken.append(text)
        self._last = (key, text)
        if not self.enabled:
            return
        path = self._rendered(text)
        self._start(self._load(path if path is not None else self.voice_dir / f"{key}.wav"))

    def repeat(self) -> None:
        if self._last is not None:
            key, text = self._last
            self.play(key) if text is None else self.say(key, text)

    def _rendered(self, text: str) -> Path | None:
        wav = self.voice_dir / DYNAMIC / f"{_digest(text)}.wav"
        if wav.is_file():
            return wav
        exe = shutil.which("espeak-ng")
        if exe is None:
            return None
        try:
            wav.parent.mkdir(parents=True, exist_ok=True)
            _render(exe, shutil.which("sox"), text, wav)
        except (OSError, VoiceError, subprocess.TimeoutExpired):
            log.exception("cannot render the sentence %r", text)
            return None
        return wav

    def _start(self, sound: Any) -> None:
        if sound is None:
            return
        if self._current is not None and self._current is not sound:
            self._current.stop()
        sound.volume = self.volume
        sound.stop()
        sound.play()
        self._current = sound

    def _load(self, path: Path) -> Any:
        if path in self._sounds:
            return self._sounds[path]
        if not path.is_file():
            if path not in self._missing:
                self._missing.add(path)
                log.warning("voice prompt missing: %s (run `nongbao kiosk voices`)", path)
            return None
        from kivy.core.audio import SoundLoader

        try:
            sound = SoundLoader.load(str(path))
        except Exception:  # no audio device, broken file: the words are on screen anyway
            log.exception("cannot load voice prompt %s", path)
            sound = None
        if sound is None:
            log.warning("no audio provider could load %s", path)
        self._sounds[path] = sound
        return sound
