"""Who may call: API keys, JWT access tokens, identities, roles and per-user isolation."""

from cachefront.auth.authenticator import SERVICE_IDENTITY, Authenticator, credential_of
from cachefront.auth.dependencies import IdentityDep, get_identity, require_service
from cachefront.auth.identity import Identity, Kind, Role, current_identity
from cachefront.auth.isolation import as_identity, install_isolation
from cachefront.auth.jwt import JwtVerifier
from cachefront.auth.keys import generate_key, hash_key, key_prefix
from cachefront.auth.manager import ApiKey, KeyManager

__all__ = [
    "SERVICE_IDENTITY",
    "ApiKey",
    "Authenticator",
    "Identity",
    "IdentityDep",
    "JwtVerifier",
    "KeyManager",
    "Kind",
    "Role",
    "as_identity",
    "credential_of",
    "current_identity",
    "generate_key",
    "get_identity",
    "hash_key",
    "install_isolation",
    "key_prefix",
    "require_service",
]
