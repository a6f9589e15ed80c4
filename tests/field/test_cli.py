"""`nongbao field` is wired into the one command line, loaded lazily."""

from __future__ import annotations

from click.testing import CliRunner

from field_app.cli import default_data_dir, parse_position


def test_nongbao_field_help_lists_the_options() -> None:
    from nongbao.cli import cli

    result = CliRunner().invoke(cli, ["field", "--help"])
    assert result.exit_code == 0, result.output
    assert (
        "--simulate" in result.output
        and "--tablet" in result.output
        and "--backend" in result.output
    )


def test_position_and_data_dir(monkeypatch) -> None:
    fix = parse_position("30.5,104.25,12")
    assert fix is not None and (fix.latitude, fix.longitude, fix.accuracy_m) == (30.5, 104.25, 12.0)
    assert parse_position(None) is None
    monkeypatch.delenv("NONGBAO_FIELD_DATA", raising=False)
    monkeypatch.setenv("ANDROID_PRIVATE", "/data/user/0/app")
    assert str(default_data_dir()) == "/data/user/0/app/nongbao-field"


def test_a_bad_position_is_a_usage_error() -> None:
    import click
    import pytest

    with pytest.raises(click.BadParameter):
        parse_position("somewhere")
