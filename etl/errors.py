"""The project's own errors: each means "the input or the request is wrong", and its message is
one line saying what and where. The CLI exits 2 on these; anything else is a bug or the machine
(exit 1)."""

from __future__ import annotations


class MailflowError(Exception):
    """Base of every error a user can act on."""


class ConfigError(MailflowError):
    """A setting or a configuration file (connector rules, time zone) is wrong."""


class ExportError(MailflowError):
    """An export file as a whole cannot be loaded; the message names the file."""


class NotLoadedError(MailflowError):
    """A step needs a day that has not been loaded yet."""


class DataQualityError(MailflowError):
    """The day loaded, but its data is not fit to report on."""


class ReconciliationError(MailflowError):
    """The aggregates do not add up to what was loaded; nothing was committed."""


class ReportError(MailflowError):
    """The report cannot be made as asked."""


class ArchiveError(MailflowError):
    """The archive cannot do what was asked."""


class DeliveryError(MailflowError):
    """The message could not be delivered; the text names the server and its reply."""


class ConcurrentWriteError(MailflowError):
    """Another writer replaced the same day of a table first; this write was not committed."""


class StorageError(MailflowError):
    """The storage or the catalog cannot be reached or refuses: the message names which, and where."""
