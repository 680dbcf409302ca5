"""The application shell of Tuning Service."""

__version__ = "0.1.0"
