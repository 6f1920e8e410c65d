"""balancewatch: watch prepaid balances, alert before the money runs out."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("balancewatch")
except PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"
