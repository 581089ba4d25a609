"""Secrets port (base), its in-memory default and the Vault/OpenBao adapter."""

from gateway.secrets.base import (
    SecretOwner,
    SecretStore,
    SecretValue,
    secret_path,
    server_prefix,
)
from gateway.secrets.memory import MemorySecretStore

__all__ = [
    "MemorySecretStore",
    "SecretOwner",
    "SecretStore",
    "SecretValue",
    "secret_path",
    "server_prefix",
]
