"""`nongbao kiosk`: run the self-service kiosk; `nongbao kiosk voices`: render voice prompts."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping
from pathlib import Path

import click

from kiosk_app.config import KioskConfig


def configure_kivy(width: int, height: int, fullscreen: bool) -> None:
    """Window and input settings; must run before anything imports kivy.core.window."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    from kivy.config import Config

    Config.set("graphics", "width", str(width))
    Config.set("graphics", "height", str(height))
    Config.set("graphics", "fullscreen", "auto" if fullscreen else "0")
    Config.set("graphics", "resizable", "0" if fullscreen else "1")
    Config.set("input", "mouse", "mouse,disable_multitouch")  # no red dots on right click
    Config.set("kivy", "exit_on_escape", "0" if fullscreen else "1")


def kiosk_config(
    volume: float,
    simulate: bool,
    backend_url: str,
    portrait: bool,
    env: Mapping[str, str] = os.environ,
) -> KioskConfig:
    """The kiosk's settings; the technician menu's PIN, device id and location from the
    environment (the device token is not part of them)."""
    return KioskConfig(
        volume=volume,
        tech_pin=env.get("NONGBAO_KIOSK_TECH_PIN", ""),
        backend_url="(simulated)" if simulate else backend_url,
        device_id=env.get("NONGBAO_KIOSK_DEVICE_ID", ""),
        location=env.get("NONGBAO_KIOSK_LOCATION", ""),
        centre_name=env.get("NONGBAO_CENTRE_NAME", ""),
        centre_phone=env.get("NONGBAO_CENTRE_PHONE", ""),
        county_host=env.get("NONGBAO_COUNTY_HOST", ""),
        orientation="portrait" if portrait else "landscape",
    )


@click.group(invoke_without_command=True)
@click.option("--simulate", is_flag=True, help="No server, no devices: simulated ones.")
@click.option("--portrait", is_flag=True, help="1080x1920 instead of 1920x1080.")
@click.option(
    "--backend",
    "backend_url",
    envvar="NONGBAO_BACKEND_URL",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="The backend's base URL (env NONGBAO_BACKEND_URL).",
)
@click.option(
    "--token", envvar="NONGBAO_KIOSK_TOKEN", help="Device token (env NONGBAO_KIOSK_TOKEN)."
)
@click.option("--fullscreen", is_flag=True, help="Full screen, Escape does not quit.")
@click.option("--volume", type=click.FloatRange(0, 1), default=0.9, show_default=True)
@click.option("--mute", is_flag=True, help="No voice prompts.")
@click.option("--voice-dir", type=click.Path(path_type=Path), help="Where the WAV prompts are.")
@click.option("--no-sim-panel", is_flag=True, help="Hide the demo strip in --simulate mode.")
@click.pass_context
def kiosk(
    ctx: click.Context,
    simulate: bool,
    portrait: bool,
    backend_url: str,
    token: str | None,
    fullscreen: bool,
    volume: float,
    mute: bool,
    voice_dir: Path | None,
    no_sim_panel: bool,
) -> None:
    """Run the self-service kiosk (Kivy touchscreen app)."""
    if ctx.invoked_subcommand is not None:
        return
    if not simulate and not token:
        raise click.UsageError("--token (or NONGBAO_KIOSK_TOKEN) is needed unless --simulate")
    width, height = (1080, 1920) if portrait else (1920, 1080)
    configure_kivy(width, height, fullscreen)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    from kivy.logger import Logger

    Logger.propagate = False  # Kivy prints its own lines; do not print them twice

    from kiosk_app.assemble import build_kiosk
    from kiosk_app.voice import VoiceError, default_voice_dir, missing_prompts, render_prompts

    folder = voice_dir or default_voice_dir()
    if not mute and missing_prompts(folder):
        try:
            click.echo(f"kiosk: rendering voice prompts into {folder} (once)", err=True)
            render_prompts(folder)
        except VoiceError as exc:
            click.echo(f"kiosk: no voice prompts ({exc}); the words are on screen", err=True)
    # --simulate with a token: simulated devices against that backend (`nongbao demo`)
    config = kiosk_config(volume, simulate and not token, backend_url, portrait)
    try:
        built = build_kiosk(
            simulate=simulate,
            backend_url=backend_url,
            token=token,
            config=config,
            voice_dir=folder,
            voice_enabled=not mute,
        )
    except Exception as exc:
        raise click.ClickException(f"cannot start the kiosk: {exc}") from exc

    from kiosk_app.app import KioskApp, SimAction

    sim = [] if no_sim_panel else [SimAction(label, run) for label, run in built.sim_actions]
    KioskApp(built.controller, landscape=not portrait, sim_actions=sim).run()


@kiosk.command()
@click.option(
    "--out",
    type=click.Path(path_type=Path),
    help="Folder for the WAV files (default: data/voice, or NONGBAO_VOICE_DIR).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def voices(out: Path | None, as_json: bool) -> None:
    """Render the Mandarin voice prompts with espeak-ng (only those whose text changed)."""
    from kiosk_app.texts import VOICE
    from kiosk_app.voice import VoiceError, default_voice_dir, render_prompts

    folder = out or default_voice_dir()
    try:
        written = render_prompts(folder)
    except VoiceError as exc:
        raise click.ClickException(str(exc)) from exc
    if as_json:
        click.echo(
            json.dumps({"dir": str(folder), "prompts": len(VOICE), "rendered": len(written)})
        )
    else:
        click.echo(f"{len(written)} of {len(VOICE)} prompts rendered into {folder}")


@kiosk.command()
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    help="The kiosk's data folder (default: ~/.local/share/nongbao-kiosk, or NONGBAO_KIOSK_DATA).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def key(data_dir: Path | None, as_json: bool) -> None:
    """The kiosk's capture-signing public key, made here (once) if there is none yet.

    The private key stays in the data folder (0600); register the public key with the
    device: POST /api/v1/devices {"name", "kind": "kiosk", "public_key"}."""
    from client.capture import KEY_FILE, DeviceKey
    from kiosk_app.assemble import default_data_dir

    folder = data_dir or default_data_dir()
    device_key = DeviceKey.load_or_create(folder)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "public_key": device_key.public_b64,
                    "key_id": device_key.key_id,
                    "path": str(folder / KEY_FILE),
                }
            )
        )
    else:
        click.echo(f"public_key {device_key.public_b64}")
        click.echo(f"key_id     {device_key.key_id}")
        click.echo(f"(private key: {folder / KEY_FILE}; it never leaves this kiosk)")
