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

ESPEAK_VOICE = "cmn"
ESPEAK_SPEED = 160  # words per minute; espeak's default 175 is a little fast for older listeners
MANIFEST = "manifest.json"


class VoiceError(RuntimeError):
    pass


def default_voice_dir() -> Path:
    env = os.environ.get("NONGBAO_VOICE_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1] / "data" / "voice"


def _digest(text: str) -> str:
    return hashlib.sha256(f"{ESPEAK_VOICE}|{ESPEAK_SPEED}|{text}".encode()).hexdigest()[:16]


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
        raw = out / f".{key}.raw.wav"
        cmd = [exe, "-v", ESPEAK_VOICE, "-s", str(ESPEAK_SPEED), "-w", str(raw), text]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
        if result.returncode != 0 or not raw.is_file():
            raise VoiceError(f"espeak-ng failed for {key!r}: {result.stderr.strip()}")
        if sox:
            # louder (normalised) with a short lead-in, so the first syllable is not clipped
            cmd = [sox, str(raw), str(wav), "norm", "-1", "pad", "0.15", "0.1"]
            done = subprocess.run(cmd, capture_output=True, text=True, timeout=60, check=False)
            if done.returncode != 0:
                raise VoiceError(f"sox failed for {key!r}: {done.stderr.strip()}")
            raw.unlink()
        else:
            raw.replace(wav)
        manifest[key] = digest
        written.append(wav)
    manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), "utf-8")
    return written


def missing_prompts(voice_dir: Path) -> list[str]:
    return [key for key in VOICE if not (voice_dir / f"{key}.wav").is_file()]


class VoicePlayer:
    """Plays `<key>.wav` with Kivy's SoundLoader; a new prompt cuts off the one playing.
    Missing files are logged once and skipped: the words are on screen anyway."""

    def __init__(self, voice_dir: Path, volume: float = 0.9, enabled: bool = True) -> None:
        self.voice_dir = voice_dir
        self.volume = max(0.0, min(1.0, volume))
        self.enabled = enabled
        self._sounds: dict[str, Any] = {}
        self._current: Any = None
        self._missing: set[str] = set()
        self.played: list[str] = []

    def play(self, key: str) -> None:
        self.played.append(key)
        if not self.enabled:
            return
        sound = self._load(key)
        if sound is None:
            return
        if self._current is not None and self._current is not sound:
            self._current.stop()
        sound.volume = self.volume
        sound.stop()
        sound.play()
        self._current = sound

    def _load(self, key: str) -> Any:
        if key in self._sounds:
            return self._sounds[key]
        path = self.voice_dir / f"{key}.wav"
        if not path.is_file():
            if key not in self._missing:
                self._missing.add(key)
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
        self._sounds[key] = sound
        return sound
