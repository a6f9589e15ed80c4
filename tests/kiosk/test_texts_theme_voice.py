"""Words, colours, sizes and voice: the aging-friendly rules as checks."""

from __future__ import annotations

import re
import shutil
from datetime import date
from pathlib import Path

import numpy as np
import pytest
from PIL import ImageFont

from kiosk_app import flow as f
from kiosk_app import theme
from kiosk_app.texts import (
    GUIDE_FOR_REASON,
    KNOWN_ACTIONS,
    MSG,
    VOICE,
    Text,
    spoken_date,
    spoken_passed,
    t,
)
from kiosk_app.voice import (
    VoiceError,
    VoicePlayer,
    missing_prompts,
    phonemes,
    render_prompts,
)

# the flow is a package: its source is every module in it
FLOW_SOURCE = "\n".join(p.read_text("utf-8") for p in sorted(Path(f.__file__).parent.glob("*.py")))


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


# Mandarin syllables in espeak-ng's transcription end in a tone: 55, 35, 214 or 51 (and
# the neutral tone, 33); a switch to English shows as "(en)".
TONE = re.compile(r"(55|35|214|21|51|33)")


@pytest.mark.parametrize("key", sorted(VOICE))
def test_every_prompt_is_read_as_mandarin_with_tones(key: str) -> None:
    out = phonemes(VOICE[key])
    assert "(en)" not in out, f"{key}: espeak-ng switched to English: {out}"
    syllables = [w for w in re.split(r"[_| ]+", out) if w.strip()]
    toned = [w for w in syllables if TONE.search(w)]
    assert len(toned) >= 0.8 * len(syllables), f"{key}: {out}"


@pytest.mark.parametrize(
    "day",
    [date(2027, 11, 30), date(2027, 12, 31), date(2028, 1, 1), date(2030, 10, 20)],
)
def test_the_result_with_its_date_is_mandarin_too(day: date) -> None:
    sentence = spoken_passed(day, "正在打印凭条。")
    assert re.search(r"[0-9]", sentence) is None  # digits would be read as one number
    out = phonemes(sentence)
    assert "(en)" not in out and TONE.search(out)


def test_spoken_dates_read_the_year_digit_by_digit() -> None:
    assert spoken_date(date(2027, 12, 31)) == "二零二七年十二月三十一日"
    assert spoken_date(date(2030, 1, 10)) == "二零三零年一月十日"
    assert spoken_date(date(2028, 2, 20)) == "二零二八年二月二十日"


def test_a_sentence_is_rendered_once_and_repeat_says_it_again(tmp_path: Path) -> None:
    player = VoicePlayer(tmp_path)
    player.enabled = True
    text = spoken_passed(date(2027, 12, 31))
    wav = player._rendered(text)
    assert wav is not None and wav.read_bytes()[:4] == b"RIFF"
    assert player._rendered(text) == wav  # cached by its text
    player.enabled = False
    player.say("passed", text)
    player.repeat()
    assert player.played == ["passed", "passed"] and player.spoken == [text, text]
