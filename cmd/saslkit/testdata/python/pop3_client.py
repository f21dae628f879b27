"""POP3 client for the sandbox interop tests: poplib from the standard
library.

poplib has no SASL support, so the script speaks RFC 5034 AUTH through
poplib's own command helpers: the initial response on the AUTH line when the
line fits in 255 octets (and "no_initial_response" is not set), else after
the server's "+ " continuation; the JSON
error challenge is answered as the mechanism requires. "password" uses
USER/PASS. With "subject", retrieves the first message whose Subject
contains it; with "sleep", checks that the session ends once the token has
expired. See common.py.
"""

import base64
import poplib

import common


def authenticate(pop, cfg, token, result):
    """RFC 5034 AUTH; returns the final +OK line, raises error_proto on -ERR."""
    mech = cfg["mechanism"]
    ir = common.b64(common.initial_response(cfg, token))
    line = "AUTH %s %s" % (mech, ir)
    challenges = []
    result["challenges"] = challenges
    # poplib's helpers take any line starting with "+" as success, so a
    # continuation ("+ " and base64) comes back here as a response.
    if len(line) + 2 <= 255 and not cfg.get("no_initial_response"):
        # RFC 5034 section 4: the AUTH line, CRLF included, within 255
        # octets; else the response follows the "+ " continuation.
        resp = pop._shortcmd(line)
    else:
        resp = pop._shortcmd("AUTH " + mech)
        if not resp.startswith(b"+ ") and resp != b"+":
            raise poplib.error_proto(resp)
        resp = pop._shortcmd(ir)
    if resp.startswith(b"+ ") or resp == b"+":
        # The JSON error challenge: answer it as the mechanism requires,
        # then read the failure.
        challenges.append(base64.b64decode(resp[2:]).decode("utf-8", "replace"))
        resp = pop._shortcmd(common.b64(common.error_answer(mech)))
    return resp.decode("utf-8", "replace")


def main():
    cfg = common.load_config()
    result = {"authenticated": False}
    try:
        token = common.access_token(cfg, result) if cfg["mechanism"] != "password" else None
        if cfg["tls"] == "implicit":
            pop = poplib.POP3_SSL(cfg["host"], cfg["port"], context=common.tls_context(cfg), timeout=15)
        else:
            pop = poplib.POP3(cfg["host"], cfg["port"], timeout=15)
            pop.stls(context=common.tls_context(cfg))
        result["capabilities"] = sorted(pop.capa().keys())
    except Exception as exc:  # noqa: BLE001 - reported to the test
        result.update(common.describe(exc))
        result["stage"] = "connect"
        common.emit(result)
        return

    try:
        if cfg["mechanism"] == "password":
            pop.user(cfg["user"])
            resp = pop.pass_(cfg["password"]).decode("utf-8", "replace")
        else:
            resp = authenticate(pop, cfg, token, result)
        result["authenticated"] = resp.startswith("+OK")
        result["auth_response"] = resp
    except poplib.error_proto as exc:
        result.update(common.describe(exc))
        result["stage"] = "authenticate"
        common.emit(result)
        return

    try:
        count, _ = pop.stat()
        result["count"] = count
        if cfg.get("subject"):
            for i in range(1, count + 1):
                lines = pop.retr(i)[1]
                text = b"\r\n".join(lines).decode("utf-8", "replace")
                if cfg["subject"] in text:
                    result["message"] = text
                    break
        if cfg.get("sleep"):
            result["noop_before"] = pop.noop().decode("utf-8", "replace")
            common.wait(cfg)
            try:
                result["noop_after"] = pop.noop().decode("utf-8", "replace")
            except Exception as exc:  # noqa: BLE001 - the expected outcome
                result["after"] = common.describe(exc)
            return
        pop.quit()
        result["quit"] = True
    except Exception as exc:  # noqa: BLE001 - reported to the test
        result.update(common.describe(exc))
        result["stage"] = "session"
    finally:
        common.emit(result)


if __name__ == "__main__":
    main()
