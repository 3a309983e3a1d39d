"""The one error hierarchy of rasteret.

Every error raised on purpose by rasteret derives from :class:`RasteretError`. Each class also
derives from the builtin a caller would naturally catch (``ValueError``, ``KeyError``,
``OSError`` ...), so code written against the reference implementation keeps working.
Messages name the field, file, URL or band at fault and say what to do.
"""

from __future__ import annotations


class RasteretError(Exception):
    """Root of every error rasteret raises on purpose."""


class _PlainKeyError(KeyError):
    """KeyError whose ``str()`` is the message itself, not its repr in quotes."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


# --- configuration and registry -------------------------------------------------------------


class ConfigError(RasteretError, ValueError):
    """An option, cloud config or environment setting is invalid."""


class DescriptorError(RasteretError, ValueError):
    """A DatasetDescriptor field is invalid (the message names the field)."""


class DatasetNotFoundError(RasteretError, _PlainKeyError):
    """A dataset id is not registered (the message suggests the closest ids)."""


class RegistryError(RasteretError, ValueError):
    """The registry refused an operation (e.g. unregistering a built-in dataset)."""


# --- bytes ----------------------------------------------------------------------------------


class StorageError(RasteretError, OSError):
    """Reading bytes from a store failed (the message names the URL, never its secrets)."""


class ObjectNotFoundError(StorageError, FileNotFoundError):
    """The object does not exist at that URL."""


class AccessDeniedError(StorageError, PermissionError):
    """The store refused access (the message says what credentials to configure)."""


class ObjectChangedError(StorageError):
    """The object was replaced since the collection was built (size or ETag differ)."""


# --- TIFF -----------------------------------------------------------------------------------


class TiffFormatError(RasteretError, ValueError):
    """A TIFF is malformed, truncated or hostile (the message names the source and the fault)."""


class UnsupportedTiffError(TiffFormatError, NotImplementedError):
    """A valid TIFF uses a feature rasteret cannot decode (codec, sample format ...)."""


# --- building and collections ---------------------------------------------------------------


class BuildError(RasteretError, RuntimeError):
    """Building a collection failed (STAC search, table mapping, header pass)."""


class StacError(BuildError):
    """A STAC API or static catalog could not be searched or read."""


class CollectionError(RasteretError, ValueError):
    """A collection is missing required columns or metadata, or cannot be found."""


class BandNotFoundError(RasteretError, ValueError):
    """A requested band does not exist (the message lists the bands that do)."""


# --- reads ----------------------------------------------------------------------------------


class GeometryError(RasteretError, ValueError):
    """Geometry input is invalid, lacks a CRS, or cannot be used for this read."""


class UnsupportedGeometryError(GeometryError):
    """The geometry type cannot be used here (e.g. points passed to an AOI read)."""


class ReadError(RasteretError, RuntimeError):
    """Reading pixels of one or more records failed (the message names them)."""


class ReadArgumentError(ReadError, ValueError):
    """A read argument (window, overview level) is invalid or out of range."""


__all__ = [
    "AccessDeniedError",
    "BandNotFoundError",
    "BuildError",
    "CollectionError",
    "ConfigError",
    "DatasetNotFoundError",
    "DescriptorError",
    "GeometryError",
    "ObjectChangedError",
    "ObjectNotFoundError",
    "RasteretError",
    "ReadArgumentError",
    "ReadError",
    "RegistryError",
    "StacError",
    "StorageError",
    "TiffFormatError",
    "UnsupportedGeometryError",
    "UnsupportedTiffError",
]
