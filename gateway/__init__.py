"""decypharr: a media gateway between debrid services and the *arr stack."""

__version__ = "0.1.0"
