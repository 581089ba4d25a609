"""Bearer-token authentication: verify a JWT (shared secret or JWKS) into `Claims`."""

from gateway.auth.claims import Claims
from gateway.auth.dev_tokens import mint_dev_token
from gateway.auth.jwks import JWKSCache
from gateway.auth.tokens import TokenVerifier

__all__ = ["Claims", "JWKSCache", "TokenVerifier", "mint_dev_token"]
