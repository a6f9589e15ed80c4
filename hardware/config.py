"""Which devices a kiosk or field tablet has, and opening them.

Configuration comes from a TOML file (`NONGBAO_DEVICE_CONFIG`, or a path given to
`DeviceConfig.load`) and then from the environment, which wins::

    [camera]                      # NONGBAO_DEVICE_CAMERA=opencv
    kind = "opencv"               # opencv | simulated | none
    source = "0"                  # NONGBAO_DEVICE_CAMERA_SOURCE=rtsp://...

    [printer]
    kind = "network"              # network | usb | serial | file | simulated | none
    host = "192.168.1.50"

Every device defaults to its simulator, so the apps run with no hardware at all;
`NONGBAO_DEVICE_SIMULATE=1` forces simulators even where a real device is configured.

Plain settings only: opening the devices they name is hardware/factory.py's, which imports
this module and the device modules (never the other way round: no import circle).
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from hardware.errors import DeviceError

ENV_PREFIX = "NONGBAO_DEVICE_"


class ConfigError(DeviceError, ValueError):
    """The device configuration is wrong; the message names the setting."""


@dataclass
class CameraConfig:
    kind: Literal["opencv", "simulated", "none"] = "simulated"
    source: str = "0"  # index, /dev/videoN or a stream URL
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    media: str | None = None  # simulated: video file or folder of images; default a test card
    loop: bool = True


@dataclass
class CardReaderConfig:
    """The social security card reader (PC/SC)."""

    kind: Literal["pcsc", "simulated", "none"] = "simulated"
    reader: str | None = None  # part of the PC/SC reader name; default: any reader
    fixture: str | None = None  # simulated: card contents (JSON)
    inserted: bool = True  # simulated: start with the card in the reader


@dataclass
class IdReaderConfig:
    """The resident ID card reader (serial)."""

    kind: Literal["serial", "simulated", "none"] = "simulated"
    port: str = "/dev/ttyUSB0"
    baudrate: int = 115200
    fixture: str | None = None
    inserted: bool = True


@dataclass
class ScannerConfig:
    kind: Literal["keyboard", "serial", "camera", "none"] = "keyboard"
    port: str = "/dev/ttyACM0"
    baudrate: int = 9600


@dataclass
class PrinterConfig:
    kind: Literal["network", "usb", "serial", "file", "simulated", "none"] = "simulated"
    host: str = "127.0.0.1"
    port: int = 9100
    usb_vendor: str | None = None  # hex, as lsusb shows it: "0416"
    usb_product: str | None = None
    device: str = "/dev/ttyS0"  # serial printers
    baudrate: int = 9600
    path: str = "/dev/usb/lp0"  # file printers
    width_mm: Literal[58, 80] = 58
    charset: Literal["gb2312", "gbk", "gb18030"] = "gbk"  # what the printer's font covers
    check_status: bool = True
    out_dir: str | None = None  # simulated: keep the jobs and PNG previews here


@dataclass
class DeviceConfig:
    camera: CameraConfig = field(default_factory=CameraConfig)
    card_reader: CardReaderConfig = field(default_factory=CardReaderConfig)
    id_reader: IdReaderConfig = field(default_factory=IdReaderConfig)
    scanner: ScannerConfig = field(default_factory=ScannerConfig)
    printer: PrinterConfig = field(default_factory=PrinterConfig)

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        env: Mapping[str, str] | None = None,
        *,
        simulate: bool = False,
    ) -> DeviceConfig:
        env = os.environ if env is None else env
        config = cls()
        path = path or env.get(f"{ENV_PREFIX}CONFIG")
        if path:
            config.apply(_read_toml(Path(path)), origin=str(path))
        config.apply(_from_env(env), origin="environment")
        if simulate or _parse_bool(env.get(f"{ENV_PREFIX}SIMULATE", "0"), "SIMULATE"):
            config.simulate_all()
        return config

    def sections(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def apply(self, values: Mapping[str, Any], origin: str) -> None:
        sections = self.sections()
        for section, settings in values.items():
            if section not in sections:
                raise ConfigError(
                    f"{origin}: unknown device [{section}]; known: {sorted(sections)}"
                )
            if not isinstance(settings, Mapping):
                raise ConfigError(f"{origin}: [{section}] must be a table of settings")
            for key, value in settings.items():
                _set(sections[section], key, value, f"{origin}: {section}.{key}")

    def simulate_all(self) -> None:
        for section in (self.camera, self.card_reader, self.id_reader, self.printer):
            if section.kind != "none":
                section.kind = "simulated"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"device configuration {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"device configuration {path}: {exc}") from None


def _from_env(env: Mapping[str, str]) -> dict[str, dict[str, str]]:
    """NONGBAO_DEVICE_PRINTER=network and NONGBAO_DEVICE_PRINTER_HOST=... as TOML would be."""
    sections = [f.name for f in dataclasses.fields(DeviceConfig)]
    values: dict[str, dict[str, str]] = {}
    for name, value in env.items():
        if not name.startswith(ENV_PREFIX):
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        for section in sorted(sections, key=len, reverse=True):  # card_reader before card
            if rest == section:
                values.setdefault(section, {})["kind"] = value
            elif rest.startswith(section + "_"):
                values.setdefault(section, {})[rest[len(section) + 1 :]] = value
    return values


def _parse_bool(text: str, where: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{where}: {text!r} is not a yes/no value")


def _convert(value: Any, annotation: Any, where: str) -> Any:
    """A TOML or environment value as the setting's type, or a ConfigError naming it."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none")):
            return None
        return _convert(value, next(a for a in args if a is not type(None)), where)
    if origin is Literal:
        for choice in args:
            if str(choice) == str(value).strip():
                return choice
        raise ConfigError(f"{where}: {value!r} is not one of {', '.join(map(str, args))}")
    if annotation is bool:
        return value if isinstance(value, bool) else _parse_bool(str(value), where)
    try:
        return annotation(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{where}: {value!r} is not a valid {annotation.__name__}") from None


def _set(section: Any, key: str, value: Any, where: str) -> None:
    hints = typing.get_type_hints(type(section))
    if key not in hints:
        known = ", ".join(f.name for f in dataclasses.fields(section))
        raise ConfigError(f"{where}: unknown setting (known: {known})")
    setattr(section, key, _convert(value, hints[key], where))
