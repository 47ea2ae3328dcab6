"""A loopback OpenID Connect provider standing in for Google, Auth0 or Hugging Face's sign-in, for
``st.login`` in browser tests: discovery, an authorize page where a person picks who they are, the
token endpoint (an RS256-signed ID token carrying the nonce) and the signing keys."""

from __future__ import annotations

import contextlib
import html
import json
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlencode, urlsplit

from hub_servers import send, serve


@dataclass
class StandInProvider:
    url: str = ""
    client_id: str = "slm-studio"
    users: dict[str, dict] = field(default_factory=dict)  # button label -> claims (sub, name, email)
    codes: dict[str, tuple[dict, str]] = field(default_factory=dict)  # code -> (claims, nonce)
    signed_in: list[str] = field(default_factory=list)  # the subjects given a token, in order

    def auth_secrets(self, redirect_uri: str) -> dict:
        """The ``[auth]`` section a deployer writes for this provider."""
        return {"redirect_uri": redirect_uri, "cookie_secret": secrets.token_hex(16), "client_id": self.client_id,
                "client_secret": "stand-in-secret", "server_metadata_url": f"{self.url}/.well-known/openid-configuration"}


@contextlib.contextmanager
def standin_provider(users: dict[str, dict]) -> Iterator[StandInProvider]:
    from joserfc import jwt
    from joserfc.jwk import RSAKey

    key = RSAKey.generate_key(2048, parameters={"kid": "stand-in", "use": "sig", "alg": "RS256"})
    provider = StandInProvider(users=users)

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _send(self, status: int, body: bytes, ctype: str = "application/json", headers: dict | None = None):
            send(self, status, body, ctype, headers)

        def do_GET(self):  # noqa: N802 (http.server's naming)
            parts = urlsplit(self.path)
            query = {k: v[0] for k, v in parse_qs(parts.query).items()}
            if parts.path == "/.well-known/openid-configuration":
                base = provider.url
                return self._send(200, json.dumps({
                    "issuer": base, "authorization_endpoint": f"{base}/authorize", "token_endpoint": f"{base}/token",
                    "jwks_uri": f"{base}/jwks", "response_types_supported": ["code"],
                    "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"],
                    "scopes_supported": ["openid", "email", "profile"],
                    "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"]}).encode())
            if parts.path == "/jwks":
                return self._send(200, json.dumps({"keys": [key.as_dict(private=False)]}).encode())
            if parts.path == "/authorize":  # a page with one button per person, as a provider's account chooser
                links = []
                for label, claims in provider.users.items():
                    code = secrets.token_urlsafe(16)
                    provider.codes[code] = (claims, query.get("nonce", ""))
                    target = query["redirect_uri"] + "?" + urlencode({"code": code, "state": query.get("state", "")})
                    links.append(f'<p><a href="{html.escape(target)}">Continue as {html.escape(label)}</a></p>')
                body = f"<html><body><h1>Stand-in sign-in</h1>{''.join(links)}</body></html>".encode()
                return self._send(200, body, "text/html; charset=utf-8")
            return self._send(404, b"{}")

        def do_POST(self):  # noqa: N802
            length = int(self.headers.get("Content-Length") or 0)
            form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
            if urlsplit(self.path).path != "/token" or form.get("code") not in provider.codes:
                return self._send(400, json.dumps({"error": "invalid_grant"}).encode())
            claims, nonce = provider.codes.pop(form["code"])
            now = int(time.time())
            id_claims = {"iss": provider.url, "aud": provider.client_id, "iat": now, "exp": now + 3600, **claims}
            if nonce:
                id_claims["nonce"] = nonce
            id_token = jwt.encode({"alg": "RS256", "kid": "stand-in"}, id_claims, key)
            provider.signed_in.append(claims["sub"])
            return self._send(200, json.dumps({"access_token": secrets.token_urlsafe(16), "token_type": "Bearer",
                                               "expires_in": 3600, "id_token": id_token}).encode())

    with serve(Handler) as url:
        provider.url = url
        yield provider
