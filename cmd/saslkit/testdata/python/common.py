"""Shared helpers for the sandbox interop scripts (Python 3 standard library only).

Each script reads one JSON object from standard input, acts as a mail client
against `saslkit sandbox`, and prints one JSON object describing what
happened; the Go test decides whether that was right. Keys of the input:

  host, port      the listener
  tls             "implicit" or "starttls"
  ca_file         the sandbox's CA certificate
  user            the account
  mechanism       "XOAUTH2", "OAUTHBEARER" or "password"
  token           the access token (for XOAUTH2 and OAUTHBEARER)
  password        the password (for "password")
  refresh         optional {token_url, client_id, client_secret,
                  refresh_token}: fetch a fresh access token first
  sleep           optional seconds: after authenticating and one successful
                  NOOP, wait this long, then try another NOOP (session expiry)
"""

import base64
import json
import ssl
import sys
import time
import urllib.parse
import urllib.request


def load_config():
    return json.load(sys.stdin)


def emit(result):
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    sys.stdout.flush()


def tls_context(cfg):
    """A context that trusts only the sandbox's CA and checks the host name."""
    ctx = ssl.create_default_context(cafile=cfg["ca_file"])
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def refresh_token(cfg):
    """Refresh the access token at the sandbox's token endpoint, as a mail
    client holding a refresh token does (RFC 6749 section 6)."""
    r = cfg["refresh"]
    body = urllib.parse.urlencode({
        "grant_type": "refresh_token",
        "client_id": r["client_id"],
        "client_secret": r["client_secret"],
        "refresh_token": r["refresh_token"],
    }).encode("ascii")
    req = urllib.request.Request(r["token_url"], data=body, method="POST",
                                 headers={"Content-Type": "application/x-www-form-urlencoded"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        answer = json.load(resp)
    return answer["access_token"], answer.get("expires_in")


def access_token(cfg, result):
    if cfg.get("refresh"):
        token, expires_in = refresh_token(cfg)
        result["refreshed"] = True
        result["expires_in"] = expires_in
        return token
    return cfg["token"]


def xoauth2(user, token):
    """The XOAUTH2 initial client response, raw (not base64)."""
    return "user=%s\x01auth=Bearer %s\x01\x01" % (user, token)


def oauthbearer(user, token, host, port):
    """The OAUTHBEARER initial client response (RFC 7628), raw."""
    return "n,a=%s,\x01host=%s\x01port=%d\x01auth=Bearer %s\x01\x01" % (user, host, port, token)


def initial_response(cfg, token):
    if cfg["mechanism"] == "XOAUTH2":
        return xoauth2(cfg["user"], token)
    return oauthbearer(cfg["user"], token, cfg["host"], cfg["port"])


def error_answer(mechanism):
    """What a client answers to the server's JSON error challenge: an empty
    response for XOAUTH2 (Google's documentation), %x01 for OAUTHBEARER
    (RFC 7628 section 3.2.3)."""
    return "" if mechanism == "XOAUTH2" else "\x01"


def b64(s):
    return base64.b64encode(s.encode("utf-8")).decode("ascii")


def describe(exc):
    return {"error_type": type(exc).__module__ + "." + type(exc).__qualname__, "error": str(exc)}


def wait(cfg):
    time.sleep(float(cfg["sleep"]))
