"""The plugin side of hashicorp/go-plugin's gRPC protocol, in Python.

A saslkit host starts a plugin as a child process through go-plugin. Before
the host can make a single saslkit call, the plugin must do what go-plugin's
own Go server does (server.go, mtls.go, grpc_server.go of go-plugin v1.8.0):

1. Check the magic cookie environment variable, and refuse to run without
   it: a person who starts the program by hand gets a clear message and exit
   status 1.
2. Listen on 127.0.0.1, on the first free port between PLUGIN_MIN_PORT and
   PLUGIN_MAX_PORT (any free port when neither is set).
3. AutoMTLS: the host puts its one-time certificate (PEM) in
   PLUGIN_CLIENT_CERT. The plugin makes its own one-time key and self-signed
   certificate for "localhost", serves gRPC over TLS that requires the host's
   certificate, and hands its certificate back in the handshake line.
4. Print the handshake line, and nothing else, on standard output:
   CORE-PROTOCOL-VERSION|APP-PROTOCOL-VERSION|tcp|ADDRESS|grpc|CERT
   where CERT is the DER certificate in standard base64 without padding.
5. Serve grpc.health.v1.Health (service "plugin" SERVING), go-plugin's
   plugin.GRPCController (Shutdown ends the process) and plugin.GRPCStdio
   (what the plugin prints after the handshake reaches the host's
   SyncStdout), beside the application's services.
6. Exit when the host asks (Shutdown, SIGTERM) or goes away (the parent
   process dies). SIGINT is ignored, as go-plugin's Go plugins do: a Ctrl-C
   at a terminal reaches the host too, and the host decides.

Log lines go to standard error as hclog JSON, which the host parses and
files under its own logger at the right level.

Nothing here is specific to saslkit: serve() takes the handshake settings
and a function that registers the application's gRPC services.
"""

import base64
import datetime
import json
import logging
import os
import queue
import signal
import sys
import threading
from concurrent import futures

import grpc
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

import grpc_controller_pb2
import grpc_controller_pb2_grpc
import grpc_stdio_pb2
import grpc_stdio_pb2_grpc
import health_pb2
import health_pb2_grpc

# CORE_PROTOCOL_VERSION is go-plugin's own protocol version (constants.go),
# the first field of the handshake line.
CORE_PROTOCOL_VERSION = 1

# HEALTH_SERVICE is the service name go-plugin's Client.Ping checks.
HEALTH_SERVICE = "plugin"

# PARENT_POLL_SECONDS is how often the parent process is looked at. go-plugin
# hands the plugin the host's own standard input, so its end of file says
# nothing about the host; a changed parent process id does.
PARENT_POLL_SECONDS = 0.5

# SHUTDOWN_GRACE_SECONDS bounds how long calls in flight may finish once the
# plugin is asked to stop. go-plugin's Client.Kill waits 2 s for the process
# to exit before it kills it.
SHUTDOWN_GRACE_SECONDS = 1.0

# STDIO_BACKLOG bounds the writes kept for the host before it attaches to
# GRPCStdio; later ones are dropped (and counted) rather than block.
STDIO_BACKLOG = 1024


class HandshakeConfig:
    """What host and plugin agree on before they talk (go-plugin's
    HandshakeConfig): the application protocol version and the magic cookie."""

    def __init__(self, protocol_version, cookie_key, cookie_value):
        self.protocol_version = protocol_version
        self.cookie_key = cookie_key
        self.cookie_value = cookie_value


class StartupError(Exception):
    """The plugin cannot start: its message says why, for the host's log."""


class HclogFormatter(logging.Formatter):
    """Formats records as the JSON lines hclog writes, so the host files a
    plugin's log lines at their level (go-plugin's logStderr). A record's
    extra "kv" dict becomes key-value pairs."""

    LEVELS = {
        logging.DEBUG: "debug",
        logging.INFO: "info",
        logging.WARNING: "warn",
        logging.ERROR: "error",
        logging.CRITICAL: "error",
    }

    def format(self, record):
        when = datetime.datetime.fromtimestamp(record.created, datetime.timezone.utc)
        line = {
            "@level": self.LEVELS.get(record.levelno, "info"),
            "@message": record.getMessage(),
            # The layout go-plugin parses: 2006-01-02T15:04:05.000000Z07:00.
            "@timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        }
        for key, value in getattr(record, "kv", {}).items():
            line[key] = value
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def stderr_logger(name):
    """Returns a logger that writes hclog JSON lines to standard error."""
    logger = logging.getLogger(name)
    if not logger.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(HclogFormatter())
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
        logger.propagate = False
    return logger


def check_cookie(handshake, environ):
    """Returns None when the magic cookie is set, or the message for a person
    who started the plugin by hand."""
    if environ.get(handshake.cookie_key) == handshake.cookie_value:
        return None
    return (
        "This program is a saslkit plugin: the saslkit host starts it and "
        "talks to it over gRPC. It is not meant to be run by hand. "
        "Configure it in the program that loads plugins instead.\n"
    )


def port_range(environ):
    """Returns the (low, high) ports to try from PLUGIN_MIN_PORT and
    PLUGIN_MAX_PORT; (0, 0) asks for any free port."""
    ports = []
    for name in ("PLUGIN_MIN_PORT", "PLUGIN_MAX_PORT"):
        text = environ.get(name, "")
        if text == "":
            ports.append(0)
            continue
        try:
            value = int(text, 10)
        except ValueError:
            raise StartupError(f"{name} is not a number: {text!r}") from None
        if not 0 <= value <= 65535:
            raise StartupError(f"{name} is out of range: {value}")
        ports.append(value)
    low, high = ports
    if low > high:
        raise StartupError(f"PLUGIN_MIN_PORT {low} is greater than PLUGIN_MAX_PORT {high}")
    return low, high


def make_certificate():
    """Returns (key PEM, certificate PEM, certificate DER) of a one-time
    self-signed certificate for "localhost", as go-plugin's generateCert
    makes: usable for server and client authentication, and its own CA, so
    that the host can trust exactly this certificate. The key never leaves
    this process's memory."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "localhost"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "saslkit plugin"),
        ]
    )
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(seconds=30))
        # As long as go-plugin's own one-time certificates: the process may
        # run as long as its host, and the key dies with it.
        .not_valid_after(now + datetime.timedelta(hours=262980))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=True,
                key_cert_sign=True,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return key_pem, cert.public_bytes(serialization.Encoding.PEM), cert.public_bytes(serialization.Encoding.DER)


def server_credentials(client_cert_pem):
    """Returns the TLS credentials that require the host's certificate, and
    the handshake field that carries this plugin's certificate."""
    try:
        host_cert = x509.load_pem_x509_certificate(client_cert_pem.encode("ascii"))
    except ValueError as e:
        raise StartupError(f"PLUGIN_CLIENT_CERT holds no PEM certificate: {e}") from None
    key_pem, cert_pem, cert_der = make_certificate()
    creds = grpc.ssl_server_credentials(
        [(key_pem, cert_pem)],
        root_certificates=host_cert.public_bytes(serialization.Encoding.PEM),
        require_client_auth=True,
    )
    # go-plugin reads the field with base64.RawStdEncoding: no padding.
    field = base64.b64encode(cert_der).decode("ascii").rstrip("=")
    return creds, field


def bind(server, creds, low, high):
    """Adds the first free 127.0.0.1 port of [low, high] to server and
    returns it. Port 0, like go-plugin's, lets the system pick one."""
    for port in range(low, high + 1):
        try:
            bound = server.add_secure_port(f"127.0.0.1:{port}", creds)
        except RuntimeError:
            continue
        if bound:
            return bound
    raise StartupError(f"no free port on 127.0.0.1 between {low} and {high}")


class Health(health_pb2_grpc.HealthServicer):
    """grpc.health.v1.Health: the overall server ("") and go-plugin's
    "plugin" service are SERVING until the plugin stops."""

    def __init__(self, stopping):
        self._stopping = stopping

    def _status(self, service):
        if service not in ("", HEALTH_SERVICE):
            return None
        if self._stopping.is_set():
            return health_pb2.HealthCheckResponse.NOT_SERVING
        return health_pb2.HealthCheckResponse.SERVING

    def Check(self, request, context):
        status = self._status(request.service)
        if status is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=status)

    def Watch(self, request, context):
        status = self._status(request.service)
        if status is None:
            status = health_pb2.HealthCheckResponse.SERVICE_UNKNOWN
        yield health_pb2.HealthCheckResponse(status=status)
        while context.is_active() and not self._stopping.wait(PARENT_POLL_SECONDS):
            pass
        if context.is_active():
            yield health_pb2.HealthCheckResponse(status=health_pb2.HealthCheckResponse.NOT_SERVING)


class Controller(grpc_controller_pb2_grpc.GRPCControllerServicer):
    """plugin.GRPCController: Shutdown asks the plugin to exit."""

    def __init__(self, stop):
        self._stop = stop

    def Shutdown(self, request, context):
        self._stop("the host asked the plugin to shut down")
        return grpc_controller_pb2.Empty()


class Stdio(grpc_stdio_pb2_grpc.GRPCStdioServicer):
    """plugin.GRPCStdio: what the plugin writes to sys.stdout after the
    handshake, streamed to the host (its ClientConfig.SyncStdout). Standard
    error stays a plain pipe: the host logs it line by line, and a traceback
    must reach it even when nobody streams."""

    def __init__(self, stopping):
        self._stopping = stopping
        self._queue = queue.Queue(maxsize=STDIO_BACKLOG)
        self._taken = threading.Lock()
        self._dropped_lock = threading.Lock()
        self.dropped = 0

    def write(self, data):
        try:
            self._queue.put_nowait(data)
        except queue.Full:
            with self._dropped_lock:
                self.dropped += 1

    def close(self):
        """Ends the stream now rather than at its next poll, so that the
        server stops without waiting for it."""
        try:
            self._queue.put_nowait(None)
        except queue.Full:
            pass  # the stream drains the queue, then sees the stopping event

    def StreamStdio(self, request, context):
        # go-plugin: "This RPC endpoint must only be called ONCE."
        if not self._taken.acquire(blocking=False):
            context.abort(grpc.StatusCode.ALREADY_EXISTS, "standard output is already being streamed")
        while context.is_active():
            try:
                data = self._queue.get(timeout=PARENT_POLL_SECONDS)
            except queue.Empty:
                if self._stopping.is_set():
                    return
                continue
            if data is None:
                # close(): what was written before it has been sent.
                return
            yield grpc_stdio_pb2.StdioData(channel=grpc_stdio_pb2.StdioData.STDOUT, data=data)


class StdoutToHost:
    """A text stream that replaces sys.stdout after the handshake: a stray
    print() can no longer reach the host's handshake reader, and goes to the
    host through GRPCStdio instead, a line at a time."""

    def __init__(self, stdio):
        self._stdio = stdio
        self._lock = threading.Lock()
        self._pending = ""
        self.encoding = "utf-8"

    def write(self, text):
        with self._lock:
            self._pending += text
            end = self._pending.rfind("\n") + 1
            if end:
                self._stdio.write(self._pending[:end].encode("utf-8", "replace"))
                self._pending = self._pending[end:]
        return len(text)

    def flush(self):
        with self._lock:
            if self._pending:
                self._stdio.write(self._pending.encode("utf-8", "replace"))
                self._pending = ""

    def isatty(self):
        return False


def serve(handshake, register, logger=None, environ=None):
    """Runs a go-plugin gRPC plugin until the host stops it or goes away,
    and returns the process exit status.

    register(server, stopping) adds the application's services to the
    grpc.Server; stopping is a threading.Event set when the plugin begins to
    stop, for long calls to notice.
    """
    environ = os.environ if environ is None else environ
    logger = logger or stderr_logger("plugin")

    refusal = check_cookie(handshake, environ)
    if refusal is not None:
        sys.stderr.write(refusal)
        return 1

    try:
        low, high = port_range(environ)
        client_cert = environ.get("PLUGIN_CLIENT_CERT", "")
        if not client_cert:
            # The services hand out secrets: without AutoMTLS any local user
            # could call them on the loopback port.
            raise StartupError("PLUGIN_CLIENT_CERT is not set: the host must use AutoMTLS")
        creds, cert_field = server_credentials(client_cert)
    except StartupError as e:
        logger.error(f"plugin cannot start: {e}")
        return 1

    stopping = threading.Event()
    reason = []

    def stop(why):
        if not stopping.is_set():
            reason.append(why)
            stopping.set()

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8),
        # gRPC sets SO_REUSEPORT by default: two processes could then hold
        # the same port and share its connections.
        options=[("grpc.so_reuseport", 0)],
    )
    stdio = Stdio(stopping)
    health_pb2_grpc.add_HealthServicer_to_server(Health(stopping), server)
    grpc_controller_pb2_grpc.add_GRPCControllerServicer_to_server(Controller(stop), server)
    grpc_stdio_pb2_grpc.add_GRPCStdioServicer_to_server(stdio, server)
    register(server, stopping)

    try:
        port = bind(server, creds, low, high)
    except StartupError as e:
        logger.error(f"plugin cannot start: {e}")
        return 1
    server.start()

    parent = os.getppid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, lambda signum, frame: stop("SIGTERM"))

    # Like go-plugin, the plugin announces its own version even when the
    # host's PLUGIN_PROTOCOL_VERSIONS does not list it: the host then
    # reports the mismatch.
    out = sys.stdout
    out.write(f"{CORE_PROTOCOL_VERSION}|{handshake.protocol_version}|tcp|127.0.0.1:{port}|grpc|{cert_field}\n")
    out.flush()
    sys.stdout = StdoutToHost(stdio)
    logger.debug("plugin serving", extra={"kv": {"address": f"127.0.0.1:{port}", "pid": os.getpid()}})

    while not stopping.wait(PARENT_POLL_SECONDS):
        if os.getppid() != parent:
            stop("the host process went away")
    logger.debug(f"plugin stopping: {reason[0]}")
    sys.stdout.flush()
    stdio.close()
    server.stop(SHUTDOWN_GRACE_SECONDS).wait()
    if stdio.dropped:
        logger.warning(f"{stdio.dropped} writes to standard output were dropped: nobody streamed them")
    return 0
