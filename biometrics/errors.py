"""Errors of the face engine. Every message is meant to be shown to an operator as is."""

from __future__ import annotations

from biometrics.models import ModelsMissingError


class BiometricsError(Exception):
    """Base class of the face engine's errors."""


class ImageError(BiometricsError, ValueError):
    """The bytes are not an image we can safely decode."""


class NoFaceError(BiometricsError):
    """No (single, usable) face was found where one was required."""


class TemplateError(BiometricsError, ValueError):
    """A face template is malformed, of another engine version, or corrupt."""


class IndexFileError(BiometricsError):
    """The 1:N index files are missing, inconsistent or of another format."""


__all__ = [
    "BiometricsError",
    "ImageError",
    "IndexFileError",
    "ModelsMissingError",
    "NoFaceError",
    "TemplateError",
]
