#!/usr/bin/python3 -I
"""token_file_plugin.py: a saslkit token-source plugin that serves access
tokens from a JSON file another program keeps fresh.

Many setups already have something that refreshes OAuth 2.0 access tokens
and writes them to a file: a secrets agent rendering a template, a cron job,
a sidecar. This plugin hands those tokens to saslkit, account by account, so
that the mail program itself holds no refresh token and no client secret.
It is the Python twin of plugins/examples/tokenfile, and reads the same
files.

Its only argument is the file. The file must be readable and writable by its
owner only (mode 0600 or stricter). It maps each account to a token in the
JSON shape of golang.org/x/oauth2's Token (json.Marshal of a
map[string]*oauth2.Token is a valid file):

    {
      "alice@example.com": {
        "access_token": "ya29.a0Af...",
        "token_type": "Bearer",
        "expiry": "2026-11-22T07:04:05Z",
        "scopes": ["https://mail.google.com/"]
      },
      "bob@example.com": {"access_token": "..."}
    }

"token_type" defaults to Bearer. "expiry" (RFC 3339) may be absent or the
zero time, meaning unknown. "scopes", when present, lists the scopes the
token was granted, and a request for other scopes is refused. Other fields
(refresh_token, expires_in) are ignored.

The file is read again whenever it changes, so the refresher only has to
replace it (write a temporary file, then rename it over the old one). When
the host reports that a server rejected a token (Invalidate), the plugin
does not serve that token again: until the file holds a new one, the host
gets providers.ErrNoToken. An account the file does not hold gets
providers.ErrReauthRequired, an expired token providers.ErrTokenExpired.
Errors never quote the file: they name the account, the file and the fault.

Run it from a saslkit host:

    sum=$(sha256sum token_file_plugin.py | cut -d' ' -f1)
    p, err := plugins.Open(ctx, "/opt/saslkit/token_file_plugin.py",
        &plugins.Options{Checksum: sum, Args: []string{"/run/tokens.json"}})

Started by hand, it refuses to run. It needs Debian's python3-grpcio,
python3-protobuf and python3-cryptography, and goplugin.py and the modules
in generated/ beside it.
"""

import datetime
import hashlib
import json
import os
import re
import stat
import sys
import threading

# No __pycache__ beside the plugin: its directory stays exactly what was
# installed (and what a checksum of it covers).
sys.dont_write_bytecode = True

_HERE = os.path.dirname(os.path.realpath(__file__))
# python3 -I leaves the script's directory off sys.path (and ignores
# PYTHONPATH, so the host's environment cannot swap modules in): add the
# two directories this plugin is made of, and nothing else.
sys.path[0:0] = [os.path.join(_HERE, "generated"), _HERE]

import grpc  # noqa: E402
from google.protobuf import any_pb2  # noqa: E402

import goplugin  # noqa: E402
import saslkit_pb2  # noqa: E402
import saslkit_pb2_grpc  # noqa: E402
import status_pb2  # noqa: E402

NAME = "token-file"
VERSION = "1.0.0"

# HANDSHAKE must match the host's (plugins.Handshake in Go).
HANDSHAKE = goplugin.HandshakeConfig(
    protocol_version=1,
    cookie_key="SASLKIT_PLUGIN",
    cookie_value="7T4GEGEG4m8rd5sxf7dVGhXEFwz7r7YA",
)

# MAX_FILE bounds what is read: a token file is a few kilobytes.
MAX_FILE = 1 << 20

Kind = saslkit_pb2.Error


class TokenError(Exception):
    """A Token or Invalidate failure, carried to the host as a gRPC status
    with a saslkit Error in its details. The message never holds a secret.

    The host reads the Error's kind; the status code is for plain gRPC
    clients, and is the one the Go side picks for the same kind. Never
    UNAVAILABLE: to a host it means that the plugin process went away."""

    def __init__(self, code, kind, message):
        super().__init__(message)
        self.code = code
        self.kind = kind
        self.message = message

    def abort(self, context):
        """Ends the call with this error: the gRPC status code and message,
        and the saslkit Error in the status details (google.rpc.Status in
        the grpc-status-details-bin trailer, as grpc-go reads it)."""
        detail = any_pb2.Any()
        detail.Pack(
saslkit_pb2.Error(kind=self.kind, message=self.message)
        )
        st = status_pb2.Status(code=self.code.value[0], message=self.message, details=[detail])
        context.set_trailing_metadata((("grpc-status-details-bin", st.SerializeToString()),))
        context.abort(self.code, self.message)


class Entry:
    """One account's token, as read from the file."""

    __slots__ = ("access_token", "token_type", "expiry_millis", "scopes")

    def __init__(self, access_token, token_type, expiry_millis, scopes):
        self.access_token = access_token
        self.token_type = token_type
        self.expiry_millis = expiry_millis
        self.scopes = scopes

    def __repr__(self):
        # Never the token itself.
        return f"Entry(token_type={self.token_type!r}, expiry_millis={self.expiry_millis}, scopes={self.scopes!r})"


def fingerprint(token):
    """Returns what is remembered of a rejected token: its SHA-256."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def usable_token(token):
    """Tells whether token can go on a mail protocol line: visible ASCII,
    no spaces, no control characters."""
    return 0 < len(token) <= 8192 and all(0x21 <= ord(c) <= 0x7E for c in token)


# RFC3339 is the grammar of "expiry": what Go's time.Time writes and reads.
# (datetime.fromisoformat alone takes many more ISO 8601 forms.)
RFC3339 = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})", re.ASCII)


def parse_expiry(value, where):
    """Returns the expiry in Unix milliseconds from an RFC 3339 string, or 0
    for an absent or zero time (unknown). An expiry before 1970 is 1: long
    past, where 0 or less would read as unknown on the wire."""
    if value is None:
        return 0
    if not isinstance(value, str):
        raise ValueError(f"{where}: expiry is not a string")
    if not RFC3339.fullmatch(value):
        raise ValueError(f"{where}: expiry is not an RFC 3339 time")
    try:
        when = datetime.datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{where}: expiry is not an RFC 3339 time") from None
    if when.year <= 1:
        # Go's zero time.Time, which x/oauth2 writes for "unknown".
        return 0
    return max(int(when.timestamp() * 1000), 1)


def parse_file(data, path):
    """Parses the token file's bytes into {account: Entry}. A ValueError
    names the fault and never quotes the file."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not UTF-8 text") from None
    except json.JSONDecodeError as e:
        # e.msg describes the fault without quoting the input.
        raise ValueError(f"{path}: invalid JSON at line {e.lineno} column {e.colno}: {e.msg}") from None
    except RecursionError:
        raise ValueError(f"{path}: JSON nested too deeply") from None
    if not isinstance(doc, dict):
        raise ValueError(f"{path} is not a JSON object of tokens")
    entries = {}
    for account, tok in doc.items():
        where = f"{path}: account {account!r}"
        if not isinstance(tok, dict):
            raise ValueError(f"{where} is not an object")
        access = tok.get("access_token")
        if not isinstance(access, str) or not access:
            raise ValueError(f"{where} has no access_token")
        if not usable_token(access):
            raise ValueError(f"{where}: access_token holds spaces or control characters")
        token_type = tok.get("token_type") or "Bearer"
        if not isinstance(token_type, str):
            raise ValueError(f"{where}: token_type is not a string")
        scopes = tok.get("scopes")
        if scopes is not None and not (isinstance(scopes, list) and all(isinstance(s, str) for s in scopes)):
            raise ValueError(f"{where}: scopes is not a list of strings")
        entries[account] = Entry(access, token_type, parse_expiry(tok.get("expiry"), where), scopes)
    return entries


class TokenFile:
    """The token file, read again when it changes, and the tokens the host
    reported as rejected."""

    def __init__(self, path):
        self.path = path
        self._lock = threading.Lock()
        self._stamp = None
        self._entries = {}
        self._rejected = {}

    def _load_locked(self):
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            raise TokenError(grpc.StatusCode.FAILED_PRECONDITION, Kind.KIND_NO_TOKEN, f"token file {self.path} does not exist") from None
        except OSError as e:
            raise TokenError(grpc.StatusCode.FAILED_PRECONDITION, Kind.KIND_NO_TOKEN, f"token file {self.path}: {e.strerror}") from None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise TokenError(grpc.StatusCode.FAILED_PRECONDITION, Kind.KIND_NO_TOKEN, f"token file {self.path} is not a regular file")
            if st.st_mode & 0o077:
                raise TokenError(
                    grpc.StatusCode.FAILED_PRECONDITION,
                    Kind.KIND_NO_TOKEN,
                    f"token file {self.path} is open to other users (mode {stat.S_IMODE(st.st_mode):04o}); chmod 600 it",
                )
            stamp = (st.st_ino, st.st_size, st.st_mtime_ns)
            if stamp == self._stamp:
                return
            if st.st_size > MAX_FILE:
                raise TokenError(grpc.StatusCode.FAILED_PRECONDITION, Kind.KIND_NO_TOKEN, f"token file {self.path} is larger than {MAX_FILE} bytes")
            with os.fdopen(os.dup(fd), "rb") as f:
                data = f.read(MAX_FILE + 1)
        finally:
            os.close(fd)
        try:
            entries = parse_file(data, self.path)
        except ValueError as e:
            raise TokenError(grpc.StatusCode.FAILED_PRECONDITION, Kind.KIND_NO_TOKEN, str(e)) from None
        self._entries = entries
        self._stamp = stamp

    def token(self, account, scopes, now_millis):
        """Returns the Entry to serve for account, or raises TokenError."""
        with self._lock:
            self._load_locked()
            entry = self._entries.get(account)
            rejected = self._rejected.get(account, ())
        if entry is None:
            raise TokenError(
                grpc.StatusCode.PERMISSION_DENIED,
                Kind.KIND_REAUTH_REQUIRED,
                f"token file {self.path} has no token for {account!r}",
            )
        if entry.scopes is not None:
            missing = [s for s in scopes if s not in entry.scopes]
            if missing:
                raise TokenError(
                    grpc.StatusCode.INVALID_ARGUMENT,
                    Kind.KIND_INVALID,
                    f"the token of {account!r} was not granted the scopes {missing!r}",
                )
        if fingerprint(entry.access_token) in rejected:
            raise TokenError(
                grpc.StatusCode.FAILED_PRECONDITION,
                Kind.KIND_NO_TOKEN,
                f"the token of {account!r} was rejected and {self.path} has no new one yet",
            )
        if entry.expiry_millis and entry.expiry_millis <= now_millis:
            raise TokenError(
                grpc.StatusCode.FAILED_PRECONDITION,
                Kind.KIND_TOKEN_EXPIRED,
                f"the token of {account!r} in {self.path} expired and has not been replaced",
            )
        return entry

    def invalidate(self, account, token):
        """Remembers that a server rejected token for account."""
        with self._lock:
            # Only the fingerprints of the account's current and rejected
            # tokens matter: keep the set from growing without bound.
            keep = set()
            current = self._entries.get(account)
            if current is not None:
                keep.add(fingerprint(current.access_token))
            old = self._rejected.get(account, frozenset())
            self._rejected[account] = frozenset({fingerprint(token)} | (old & keep))


class PluginService(saslkit_pb2_grpc.PluginServicer):
    """saslkit.plugins.v1.Plugin: what this plugin serves."""

    def Info(self, request, context):
        return saslkit_pb2.InfoResponse(
            protocol_version=HANDSHAKE.protocol_version,
            name=NAME,
            version=VERSION,
            token_source=True,
        )


class TokenSourceService(saslkit_pb2_grpc.TokenSourceServicer):
    """saslkit.plugins.v1.TokenSource over a TokenFile."""

    def __init__(self, tokens, logger):
        self._tokens = tokens
        self._log = logger

    def Token(self, request, context):
        try:
            if not request.account:
                raise TokenError(grpc.StatusCode.INVALID_ARGUMENT, Kind.KIND_INVALID, "no account given")
            now = int(datetime.datetime.now(datetime.timezone.utc).timestamp() * 1000)
            entry = self._tokens.token(request.account, list(request.scopes), now)
        except TokenError as e:
            self._log.debug("token refused", extra={"kv": {"account": request.account, "error": e.message}})
            e.abort(context)
        except Exception as e:
            self._fail(context, "Token", request.account, e)
        return saslkit_pb2.TokenResponse(
            access_token=entry.access_token,
            token_type=entry.token_type,
            expiry_unix_millis=entry.expiry_millis,
            scopes=entry.scopes or [],
        )

    def Invalidate(self, request, context):
        try:
            if not request.account or not request.access_token:
                raise TokenError(grpc.StatusCode.INVALID_ARGUMENT, Kind.KIND_INVALID, "no account or token given")
            self._tokens.invalidate(request.account, request.access_token)
        except TokenError as e:
            e.abort(context)
        except Exception as e:
            self._fail(context, "Invalidate", request.account, e)
        self._log.info("token invalidated", extra={"kv": {"account": request.account}})
        return saslkit_pb2.InvalidateResponse()

    def _fail(self, context, call, account, e):
        """Ends a call that failed with a bug: a typed error naming the
        exception's type only, since its text may hold what it was working
        on (a token, the file)."""
        self._log.error(f"{call} failed", extra={"kv": {"account": account, "error": type(e).__name__}})
        TokenError(grpc.StatusCode.INTERNAL, Kind.KIND_UNSPECIFIED, f"internal error ({type(e).__name__})").abort(context)


def main(argv):
    logger = goplugin.stderr_logger(NAME)
    if goplugin.check_cookie(HANDSHAKE, os.environ) is None and len(argv) != 2:
        # The host passes the file in plugins.Options.Args.
        sys.stderr.write(f"usage: {os.path.basename(argv[0])} TOKENS.json (run by a saslkit host)\n")
        return 2
    tokens = TokenFile(argv[1] if len(argv) > 1 else "")

    def register(server, stopping):
        saslkit_pb2_grpc.add_PluginServicer_to_server(PluginService(), server)
        saslkit_pb2_grpc.add_TokenSourceServicer_to_server(TokenSourceService(tokens, logger), server)

    return goplugin.serve(HANDSHAKE, register, logger=logger)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
