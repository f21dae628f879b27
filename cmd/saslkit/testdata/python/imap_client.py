"""IMAP client for the sandbox interop tests: imaplib from the standard library.

Authenticates (AUTHENTICATE XOAUTH2 / OAUTHBEARER with an authobject, or
LOGIN with the password), selects INBOX and, when "subject" is given,
searches it and fetches the first match. With "sleep", checks that the
session ends once the token has expired. See common.py for the input.
"""

import imaplib

import common


def main():
    cfg = common.load_config()
    result = {"authenticated": False}
    try:
        token = common.access_token(cfg, result) if cfg["mechanism"] != "password" else None
        if cfg["tls"] == "implicit":
            imap = imaplib.IMAP4_SSL(cfg["host"], cfg["port"], ssl_context=common.tls_context(cfg), timeout=15)
        else:
            imap = imaplib.IMAP4(cfg["host"], cfg["port"], timeout=15)
            imap.starttls(ssl_context=common.tls_context(cfg))
        result["capabilities"] = list(imap.capabilities)
    except Exception as exc:  # noqa: BLE001 - reported to the test
        result.update(common.describe(exc))
        result["stage"] = "connect"
        common.emit(result)
        return

    challenges = []

    def authobject(challenge):
        # imaplib calls this for each continuation: first the empty one,
        # then, if the token is refused, the server's JSON error challenge.
        if challenge:
            challenges.append(challenge.decode("utf-8", "replace"))
            return common.error_answer(cfg["mechanism"]).encode("utf-8")
        return common.initial_response(cfg, token).encode("utf-8")

    try:
        if cfg["mechanism"] == "password":
            typ, data = imap.login(cfg["user"], cfg["password"])
        else:
            typ, data = imap.authenticate(cfg["mechanism"], authobject)
        result["authenticated"] = typ == "OK"
        result["auth_response"] = b" ".join(data).decode("utf-8", "replace")
    except imaplib.IMAP4.error as exc:
        result.update(common.describe(exc))
        result["stage"] = "authenticate"
        result["challenges"] = challenges
        common.emit(result)
        return
    result["challenges"] = challenges

    try:
        typ, data = imap.select("INBOX")
        result["exists"] = int(data[0])
        if cfg.get("subject"):
            typ, data = imap.search(None, "SUBJECT", '"%s"' % cfg["subject"])
            nums = data[0].split()
            result["found"] = len(nums)
            if nums:
                typ, data = imap.fetch(nums[0], "(RFC822)")
                result["message"] = data[0][1].decode("utf-8", "replace")
        if cfg.get("sleep"):
            typ, _ = imap.noop()
            result["noop_before"] = typ
            common.wait(cfg)
            try:
                typ, data = imap.noop()
                result["noop_after"] = typ
            except Exception as exc:  # noqa: BLE001 - the expected outcome
                result["after"] = common.describe(exc)
            return
        imap.logout()
        result["logged_out"] = True
    except Exception as exc:  # noqa: BLE001 - reported to the test
        result.update(common.describe(exc))
        result["stage"] = "session"
    finally:
        common.emit(result)


if __name__ == "__main__":
    main()
