"""Words, colours, sizes and voice: the aging-friendly rules as checks."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import ImageFont

from kiosk_app import flow as f
from kiosk_app import theme
from kiosk_app.texts import GUIDE_FOR_REASON, KNOWN_ACTIONS, MSG, VOICE, Text, t
from kiosk_app.voice import VoiceError, VoicePlayer, missing_prompts, render_prompts

FLOW_SOURCE = Path(f.__file__).read_text("utf-8")


@pytest.mark.parametrize("pair", sorted(theme.PAIRS))
def test_every_colour_pair_reaches_4_5_to_1(pair: str) -> None:
    fg, bg = theme.PAIRS[pair]
    assert theme.contrast(fg, bg) >= 4.5


def test_contrast_formula_on_known_values() -> None:
    assert theme.contrast((0, 0, 0), (255, 255, 255)) == pytest.approx(21.0)
    assert theme.contrast((119, 119, 119), (255, 255, 255)) == pytest.approx(4.48, abs=0.01)


def test_text_sizes_and_targets_meet_the_minimums() -> None:
    minimum_sp = theme.MIN_TEXT_PT / theme.PT_PER_SP
    for name in ("TITLE_SP", "BODY_SP", "DETAIL_SP", "BUTTON_SP", "ROW_SP", "BAR_BUTTON_SP"):
        assert getattr(theme, name) >= minimum_sp, name
    for name in ("BUTTON_H_DP", "BAR_H_DP", "BAR_BUTTON_W_DP", "TOP_H_DP", "LANG_W_DP"):
        assert getattr(theme, name) >= theme.MIN_TARGET_DP, name


@pytest.fixture(scope="module")
def font() -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(theme.FONT_PATH, 40)


def _shape(font: ImageFont.FreeTypeFont, ch: str) -> tuple[tuple[int, int], bytes]:
    mask = font.getmask(ch)
    return mask.size, bytes(np.asarray(mask))


def _missing_glyphs(font: ImageFont.FreeTypeFont, text: str) -> set[str]:
    notdef = _shape(font, "\U000f0000")  # a private-use code point: the empty box
    return {ch for ch in set(text) if not ch.isspace() and _shape(font, ch) == notdef}


def test_the_cjk_font_has_every_character_we_show_or_draw(font) -> None:
    shown = "".join(zh + en for zh, en in MSG.values())
    glyphs = "".join(re.findall(r'"([^\x00-\x7f])"', FLOW_SOURCE))  # icon glyphs in flow.py
    glyphs += "√！×↑↓←？●○"
    assert glyphs.strip()
    assert _missing_glyphs(font, shown + glyphs) == set()


def test_the_font_check_would_notice_a_missing_glyph(font) -> None:
    assert _missing_glyphs(font, "认证☺") == {"☺"}


def test_every_voice_key_the_flow_can_speak_exists() -> None:
    literal = set(re.findall(r'Speak\("([a-z_]+)"\)', FLOW_SOURCE))
    literal |= set(re.findall(r'_enter\([^)]*?"([a-z_]+)"\)', FLOW_SOURCE))
    families = {f"action_{a}" for a in KNOWN_ACTIONS} | set(GUIDE_FOR_REASON.values())
    families |= {"action_unknown", "guide_hold", "take_card", "take_id", "refused"}
    families |= {"failed", "failed_final", "liveness_failed", "passed", "referred"}
    families |= {"passed_printing", "referred_printing"}
    families |= {f"help_{k}" for k in ("attract", "menu", "camera", "liveness", "wait", "generic")}
    families |= {"camera_help", "card_error", "camera_failed", "unreachable"}
    assert len(literal) > 10
    assert (literal | families) - set(VOICE) == set()


def test_every_message_exists_in_both_languages() -> None:
    for key, (zh, en) in MSG.items():
        assert zh.strip() and en.strip(), key
        assert re.search(r"[\u4e00-\u9fff]", zh) or key == "btn_lang", key


def test_text_format_takes_each_language_its_own_value() -> None:
    until = Text("2027年3月31日", "2027-03-31")
    assert t("menu_valid", until=until) == Text(
        "已认证，有效期到 2027年3月31日", "Certified, valid until 2027-03-31"
    )


# ---------------------------------------------------------------- voice


def test_render_prompts_writes_wavs_and_only_rerenders_changed_text(tmp_path: Path) -> None:
    prompts = {"passed": "认证成功。", "idle": "您还在吗？请点继续。"}
    written = render_prompts(tmp_path, prompts)
    assert sorted(p.name for p in written) == ["idle.wav", "passed.wav"]
    for path in written:
        data = path.read_bytes()
        assert data[:4] == b"RIFF" and data[8:12] == b"WAVE" and len(data) > 8000
    assert render_prompts(tmp_path, prompts) == []
    prompts["idle"] = "您还在吗？"
    assert [p.name for p in render_prompts(tmp_path, prompts)] == ["idle.wav"]


def test_render_prompts_without_espeak(tmp_path: Path) -> None:
    with pytest.raises(VoiceError, match=r"espeak-ng failed|not installed"):
        render_prompts(tmp_path, {"x": "好"}, espeak="/bin/false")


def test_missing_prompts_and_a_silent_player(tmp_path: Path) -> None:
    assert set(missing_prompts(tmp_path)) == set(VOICE)
    player = VoicePlayer(tmp_path, volume=1.7)
    assert player.volume == 1.0
    player.play("attract")  # no file: logged once, skipped, no error
    player.play("attract")
    assert player.played == ["attract", "attract"]


def test_espeak_is_installed() -> None:
    assert shutil.which("espeak-ng"), "Debian package espeak-ng is part of `make setup`"
