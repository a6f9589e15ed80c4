"""`nongbao kiosk` and `nongbao kiosk voices` from the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from kiosk_app import voice
from kiosk_app.cli import kiosk
from nongbao.cli import cli


def test_the_root_command_finds_the_kiosk() -> None:
    result = CliRunner().invoke(cli, ["kiosk", "--help"])
    assert result.exit_code == 0, result.output
    for option in ("--simulate", "--portrait", "--backend", "--token", "voices"):
        assert option in result.output


def test_a_real_kiosk_needs_a_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NONGBAO_KIOSK_TOKEN", raising=False)
    result = CliRunner().invoke(kiosk, ["--backend", "http://127.0.0.1:9"])
    assert result.exit_code == 2
    assert "--token" in result.output


def test_voices_renders_into_a_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    small = {"passed": "认证成功。", "help": "大厅工作人员可以帮您。"}
    monkeypatch.setattr(voice, "VOICE", small)
    monkeypatch.setattr("kiosk_app.texts.VOICE", small)
    result = CliRunner().invoke(kiosk, ["voices", "--out", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == {"dir": str(tmp_path), "prompts": 2, "rendered": 2}
    assert sorted(p.name for p in tmp_path.glob("*.wav")) == ["help.wav", "passed.wav"]
    again = CliRunner().invoke(kiosk, ["voices", "--out", str(tmp_path)])
    assert again.exit_code == 0 and again.output.startswith("0 of 2 prompts")


def test_voices_default_folder_follows_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NONGBAO_VOICE_DIR", str(tmp_path / "v"))
    assert voice.default_voice_dir() == tmp_path / "v"
    monkeypatch.delenv("NONGBAO_VOICE_DIR")
    assert voice.default_voice_dir().parts[-2:] == ("data", "voice")
