"""A small OAuth 2 authorization server for the OIDC client-credentials test
(tests/tests/secured_oidc.rs): it serves a JSON Web Key Set, which the test
broker's JWT validator fetches, and issues RS256-signed JWTs for the
client_credentials grant, which librdkafka asks for. One client is known; its
secret is read from a file so that it never shows in `ps`.

    python oidc_token_endpoint.py --client-id ID --secret-file FILE

Prints the port it listens on (127.0.0.1, picked by the OS) as one line on
stdout, then serves until stdin closes (the test holds it open) or it is killed.

GET  /jwks   the public key, as a JWKS
POST /token  grant_type=client_credentials, client credentials in HTTP Basic
             (what librdkafka sends) or in the form; 401 invalid_client for a
             wrong secret, 400 unsupported_grant_type for another grant.
"""

import argparse
import base64
import binascii
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

from joserfc import jwt
from joserfc.jwk import RSAKey

ISSUER = "contract-gate-test-idp"
AUDIENCE = "kafka"
LIFETIME_S = 3600


def credentials(handler, form):
    """(client_id, secret) from HTTP Basic, else from the form; None when absent."""
    auth = handler.headers.get("Authorization", "")
    if auth.lower().startswith("basic "):
        try:
            user, _, secret = base64.b64decode(auth[6:].strip()).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return None
        return user, secret
    if "client_id" in form and "client_secret" in form:
        return form["client_id"][0], form["client_secret"][0]
    return None


def make_handler(key, client_id, secret):
    jwks = json.dumps({"keys": [key.as_dict(private=False)]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def reply(self, status, body):
            data = json.dumps(body).encode() if not isinstance(body, bytes) else body
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path.split("?")[0] == "/jwks":
                self.reply(200, jwks)
            else:
                self.reply(404, {"error": "not_found"})

        def do_POST(self):
            if self.path.split("?")[0] != "/token":
                self.reply(404, {"error": "not_found"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            form = parse_qs(self.rfile.read(length).decode())
            if form.get("grant_type", [""])[0] != "client_credentials":
                self.reply(400, {"error": "unsupported_grant_type"})
                return
            given = credentials(self, form)
            if given != (client_id, secret):
                self.reply(401, {"error": "invalid_client", "error_description": "unknown client or wrong secret"})
                return
            now = int(time.time())
            claims = {"iss": ISSUER, "aud": AUDIENCE, "sub": client_id, "iat": now, "exp": now + LIFETIME_S}
            scope = form.get("scope", [""])[0]
            if scope:
                claims["scope"] = scope
            token = jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT"}, claims, key)
            self.reply(200, {"access_token": token, "token_type": "Bearer", "expires_in": LIFETIME_S})

        def log_message(self, *_args):
            pass  # quiet: the test's output is the gate's

    return Handler


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--client-id", required=True)
    ap.add_argument("--secret-file", required=True)
    args = ap.parse_args()
    with open(args.secret_file, encoding="utf-8") as f:
        secret = f.read().strip()
    key = RSAKey.generate_key(2048, parameters={"kid": "cg-test-1", "use": "sig", "alg": "RS256"}, private=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(key, args.client_id, secret))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    print(server.server_address[1], flush=True)
    # Ends with the test: its end of the pipe closes when it drops the child.
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
