"""balancewatch: watch prepaid balances, alert before the money runs out."""

__version__ = "0.1.0"
