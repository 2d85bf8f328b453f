"""outagemon: an outage monitor for the infrastructure crypto users depend on."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("outagemon")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"
