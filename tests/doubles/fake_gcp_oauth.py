"""TEST DOUBLE: Google's OAuth 2.0 token endpoint (`https://oauth2.googleapis.com/token`) for service-account keys.

The GCS emulator accepts any bearer token, so a wrong service-account key would go
unnoticed there; on Google Cloud it fails earlier, when google-auth trades the key
for an access token. This server does that trade the way Google does: the client
posts a JWT signed with the account's private key (`grant_type=...jwt-bearer`); a
JWT whose signature matches the public key registered for its issuer gets an
access token (if it asks for a scope), anything else gets HTTP 400 `invalid_grant`
(or `invalid_scope`) with Google's own words.

`service_account()` makes a key file (the JSON a GCP console download holds, with
`token_uri` pointing here); `forged()` copies one with a different private key,
as a revoked or mistyped key would be. Listens on 127.0.0.1 in a thread of the test process.
"""

from __future__ import annotations

import json
import secrets
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["FakeGcpOAuth"]

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
AUDIENCE = "https://oauth2.googleapis.com/token"  # what google-auth signs for, whatever token_uri says


def _private_key_pem() -> tuple[str, str]:
    """A fresh RSA key pair as (private PKCS#8 PEM, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


class FakeGcpOAuth:
    """The token endpoint, with the public keys of the service accounts it knows."""

    def __init__(self) -> None:
        self._public_keys: dict[str, str] = {}  # client_email -> public PEM
        self.issued: list[str] = []  # access tokens handed out
        self.refused: list[str] = []  # error descriptions sent back
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-gcp-oauth", daemon=True)

    @property
    def token_uri(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/token"

    def start(self) -> FakeGcpOAuth:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def service_account(self, name: str, project: str) -> dict[str, str]:
        """A service-account key file's contents, registered here (its JWTs get tokens)."""
        private, public = _private_key_pem()
        email = f"{name}@{project}.iam.gserviceaccount.com"
        self._public_keys[email] = public
        return {
            "type": "service_account", "project_id": project, "private_key_id": secrets.token_hex(20),
            "private_key": private, "client_email": email, "client_id": str(secrets.randbits(64)),
            "token_uri": self.token_uri,
        }  # fmt: skip

    @staticmethod
    def forged(info: dict[str, str]) -> dict[str, str]:
        """The same account with another private key: Google refuses its JWTs."""
        return {**info, "private_key": _private_key_pem()[0], "private_key_id": secrets.token_hex(20)}

    # -- the endpoint --------------------------------------------------------------------------
    def grant(self, form: dict[str, list[str]]) -> tuple[int, dict[str, Any]]:
        """(HTTP status, JSON body) for one token request, as Google answers it."""
        from google.auth import exceptions, jwt

        if form.get("grant_type") != [JWT_BEARER] or len(form.get("assertion", [])) != 1:
            return 400, {"error": "unsupported_grant_type", "error_description": "Invalid grant_type: "}
        assertion = form["assertion"][0]
        try:
            issuer = jwt.decode(assertion, verify=False).get("iss", "")
        except (ValueError, exceptions.GoogleAuthError):
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT: malformed"}
        public = self._public_keys.get(issuer)
        if public is None:
            return 400, {"error": "invalid_grant", "error_description": "Invalid grant: account not found"}
        try:
            claims = jwt.decode(assertion, certs=public, audience=AUDIENCE)
        except (ValueError, exceptions.GoogleAuthError):
            return 400, {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}
        if not claims.get("scope"):  # a key used without scopes, as Application Default Credentials load it
            return 400, {"error": "invalid_scope",
                         "error_description": "Invalid OAuth scope or ID token audience provided."}
        token = "ya29." + secrets.token_urlsafe(48)
        self.issued.append(token)
        return 200, {"access_token": token, "expires_in": 3599, "token_type": "Bearer"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        oauth = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(length).decode())
                status, body = oauth.grant(form) if self.path == "/token" else (404, {"error": "not_found"})
                if status != 200:
                    oauth.refused.append(body.get("error_description", body["error"]))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=utf-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:  # quiet
                pass

        return Handler
