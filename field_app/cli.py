"""`nongbao field`: run the field app on a desktop (the phone build is in docs/field.md)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from field_app.app import FieldApp
    from field_app.devices import SequenceCamera
    from field_app.ports import Fix
    from hardware.camera import BackgroundCamera
    from hardware.idcard import SerialIdCardReader

SIZES = {"phone": (720, 1280), "tablet": (1280, 800)}


def configure_kivy(width: int, height: int) -> None:
    """Window settings; must run before anything imports kivy.core.window."""
    os.environ.setdefault("KIVY_NO_ARGS", "1")
    from kivy.config import Config

    Config.set("graphics", "width", str(width))
    Config.set("graphics", "height", str(height))
    Config.set("graphics", "resizable", "1")
    Config.set("input", "mouse", "mouse,disable_multitouch")
    Config.set("kivy", "exit_on_escape", "1")


def default_data_dir() -> Path:
    if "NONGBAO_FIELD_DATA" in os.environ:
        return Path(os.environ["NONGBAO_FIELD_DATA"])
    if "ANDROID_PRIVATE" in os.environ:  # python-for-android: the app's private storage
        return Path(os.environ["ANDROID_PRIVATE"]) / "nongbao-field"
    return Path.home() / ".local" / "share" / "nongbao-field"


def parse_position(text: str | None) -> Fix | None:
    from field_app.ports import Fix

    if not text:
        return None
    try:
        lat, lon, acc = (float(v) for v in text.split(","))
    except ValueError:
        raise click.BadParameter("give LAT,LON,ACCURACY_M, e.g. 30.657,104.066,10") from None
    return Fix(lat, lon, acc)


def build(
    simulate: bool,
    backend_url: str,
    data_dir: Path,
    position: str | None,
    camera_media: Path | None,
    tablet: bool,
) -> FieldApp:
    """The app with its devices: real ones, or simulated ones with --simulate."""
    from field_app.app import FieldApp
    from field_app.devices import build_devices
    from field_app.flow import FieldFlow
    from field_app.session import FieldSession
    from field_app.store import DeviceStore
    from hardware.camera import IMAGE_SUFFIXES

    store = DeviceStore(data_dir / "field.sqlite3")
    flow = FieldFlow(
        FieldSession(store), build_devices(simulate, parse_position(position)), base_url=backend_url
    )
    camera: BackgroundCamera | SequenceCamera | None
    if simulate and camera_media is not None and camera_media.suffix.lower() in IMAGE_SUFFIXES:
        # one photo of a face: the face does each visit's challenge in 3-D, as the backend
        # measures it (a still photo is refused)
        from field_app.devices import SequenceCamera, SimulatedWatcher

        assert isinstance(flow.dev.watcher, SimulatedWatcher)
        camera = SequenceCamera(camera_media, flow.dev.watcher)
    else:
        camera = open_camera(simulate, camera_media)
    reader = open_reader(simulate)
    return FieldApp(flow, camera=camera, id_reader=reader, landscape=tablet)


def open_camera(simulate: bool, media: Path | None) -> BackgroundCamera | None:
    from hardware.camera import SimulatedCamera
    from hardware.config import DeviceConfig
    from hardware.factory import demo_media_folder, open_camera

    if simulate or media is not None:
        return SimulatedCamera(media or demo_media_folder(), fps=10)
    try:
        return open_camera(DeviceConfig.load())
    except Exception as exc:
        click.echo(f"field: no camera ({exc}); face checks are not possible", err=True)
        return None


def open_reader(simulate: bool) -> SerialIdCardReader | None:
    from hardware.config import DeviceConfig
    from hardware.factory import open_id_card_reader

    try:
        if simulate:
            from hardware.idcard import SimulatedIdCardReader

            return SimulatedIdCardReader(inserted=True)
        return open_id_card_reader(DeviceConfig.load())
    except Exception as exc:
        click.echo(f"field: no ID card reader ({exc}); find people by QR code or name", err=True)
        return None


@click.command()
@click.option(
    "--simulate", is_flag=True, help="Simulated camera, ID card reader, GPS and liveness actions."
)
@click.option(
    "--backend",
    "backend_url",
    envvar="NONGBAO_BACKEND_URL",
    default="http://127.0.0.1:8000",
    show_default=True,
    help="The backend (env NONGBAO_BACKEND_URL).",
)
@click.option(
    "--data-dir",
    type=click.Path(path_type=Path),
    default=None,
    help="Where the encrypted store lives (env NONGBAO_FIELD_DATA).",
)
@click.option("--tablet", is_flag=True, help="1280x800 landscape instead of a 720x1280 phone.")
@click.option("--position", help="A fixed LAT,LON,ACCURACY_M where there is no GPS.")
@click.option(
    "--camera-media",
    type=click.Path(exists=True, path_type=Path),
    help="Play these images or this video as the camera (with --simulate, one photo of a face: it does each challenge in 3-D).",
)
@click.option(
    "--show-key",
    is_flag=True,
    help="Print this phone's capture-signing public key (made once) for the admin, and exit.",
)
def field(
    simulate: bool,
    backend_url: str,
    data_dir: Path | None,
    tablet: bool,
    position: str | None,
    camera_media: Path | None,
    show_key: bool,
) -> None:
    """Run the field app: certify homebound pensioners at home, offline first."""
    if show_key:
        from client.capture import DeviceKey

        key = DeviceKey.load_or_create(data_dir or default_data_dir())
        click.echo(f"public_key {key.public_b64}")
        click.echo(f"key_id     {key.key_id}")
        click.echo('register it: POST /api/v1/devices {"kind": "field", "public_key": ...}')
        return
    configure_kivy(*SIZES["tablet" if tablet else "phone"])
    try:
        app = build(
            simulate, backend_url, data_dir or default_data_dir(), position, camera_media, tablet
        )
    except Exception as exc:
        raise click.ClickException(f"cannot start the field app: {exc}") from exc
    app.run()
