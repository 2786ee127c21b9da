"""Tokens naming made-up signing keys cannot make the server hammer the identity provider."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from cachefront.auth.jwt import JwtVerifier
from cachefront.errors import AuthenticationError
from harness_servers import free_port


class CountingJwks:
    """A local JWKS endpoint publishing one RSA key (kid ``k1``) that counts its fetches."""

    def __init__(self) -> None:
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key()))
        payload = json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]})
        self.fetches = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.fetches += 1
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.end_headers()
                self.wfile.write(payload.encode())

            def log_message(self, *args: object) -> None:
                pass

        port = free_port()
        self.url = f"http://127.0.0.1:{port}/jwks.json"
        self.httpd = HTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def sign(self, kid: str) -> str:
        claims = {"sub": "u1", "exp": 4_102_444_800}
        return jwt.encode(claims, self.private_key, algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def jwks() -> Iterator[CountingJwks]:
    server = CountingJwks()
    server.thread.start()
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


async def test_unknown_key_ids_refetch_the_key_set_at_most_once_per_cooldown(
    jwks: CountingJwks,
) -> None:
    verifier = JwtVerifier(jwks_url=jwks.url)
    identity = await verifier.verify(jwks.sign("k1"))
    assert identity.id == "u1"
    assert jwks.fetches == 1
    for _ in range(25):
        with pytest.raises(AuthenticationError):
            await verifier.verify(jwks.sign(f"made-up-{uuid.uuid4().hex}"))
    # One refetch may look for a rotated key; the rest wait out the cooldown.
    assert jwks.fetches <= 2, jwks.fetches
    # The real key still verifies from the cached set.
    assert (await verifier.verify(jwks.sign("k1"))).id == "u1"
    assert jwks.fetches <= 2
