"""Errors of the device layer. Every message is meant to be shown to an operator as is."""

from __future__ import annotations


class DeviceError(Exception):
    """Base class of the device layer's errors."""


class DeviceNotFoundError(DeviceError):
    """The device (or the service that talks to it) is not there."""


class DeviceTimeoutError(DeviceError, TimeoutError):
    """The device did not answer in time."""


class ProtocolError(DeviceError):
    """The device answered something we cannot parse (bad checksum, truncated frame, ...)."""


class CardError(DeviceError):
    """A card could not be read."""


class NoCardError(CardError):
    """No card is in the reader."""


class CardRemovedError(CardError):
    """The card left the reader before the reading finished."""


class CardFileNotFoundError(CardError):
    """The card lacks a file or application we need (status 6A82)."""


class CardSecurityError(CardError):
    """The card refuses to be read without authentication (status 6982)."""


class CardDataError(CardError, ValueError):
    """The card answered, but its data does not follow the layout we expect."""


class PrinterError(DeviceError):
    """The printer cannot print."""


class PaperOutError(PrinterError):
    """The printer reports that its paper roll is empty."""


class CoverOpenError(PrinterError):
    """The printer reports that its cover is open."""
