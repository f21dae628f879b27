"""SMTP submission client for the sandbox interop tests: smtplib from the
standard library.

Authenticates with SMTP.auth and an authobject (XOAUTH2 / OAUTHBEARER, with
the initial response on the AUTH line) or SMTP.login with the password, then
sends "send" ({from, to, subject, body}) when given. With "sleep", checks
that the session ends once the token has expired. See common.py.
"""

import smtplib
from email.message import EmailMessage

import common


def main():
    cfg = common.load_config()
    result = {"authenticated": False}
    try:
        token = common.access_token(cfg, result) if cfg["mechanism"] != "password" else None
        if cfg["tls"] == "implicit":
            smtp = smtplib.SMTP_SSL(cfg["host"], cfg["port"], context=common.tls_context(cfg), timeout=15)
            smtp.ehlo()
        else:
            smtp = smtplib.SMTP(cfg["host"], cfg["port"], timeout=15)
            smtp.ehlo()
            result["auth_before_tls"] = smtp.has_extn("auth")
            smtp.starttls(context=common.tls_context(cfg))
            smtp.ehlo()
        result["auth_advertised"] = smtp.esmtp_features.get("auth", "")
    except Exception as exc:  # noqa: BLE001 - reported to the test
        result.update(common.describe(exc))
        result["stage"] = "connect"
        common.emit(result)
        return

    challenges = []

    def authobject(challenge=None):
        # smtplib calls this with no challenge for the initial response and
        # with the decoded 334 text when the server sends its JSON error
        # challenge.
        if challenge:
            challenges.append(challenge.decode("utf-8", "replace"))
            return common.error_answer(cfg["mechanism"])
        return common.initial_response(cfg, token)

    try:
        if cfg["mechanism"] == "password":
            code, resp = smtp.login(cfg["user"], cfg["password"])
        else:
            code, resp = smtp.auth(cfg["mechanism"], authobject, initial_response_ok=True)
        result["authenticated"] = code == 235
        result["auth_code"] = code
    except smtplib.SMTPException as exc:
        result.update(common.describe(exc))
        result["auth_code"] = getattr(exc, "smtp_code", None)
        result["stage"] = "authenticate"
        result["challenges"] = challenges
        common.emit(result)
        return
    result["challenges"] = challenges

    try:
        if cfg.get("send"):
            s = cfg["send"]
            msg = EmailMessage()
            msg["From"] = s["from"]
            msg["To"] = s["to"]
            msg["Subject"] = s["subject"]
            msg.set_content(s["body"])
            refused = smtp.send_message(msg)
            result["sent"] = not refused
        if cfg.get("sleep"):
            code, _ = smtp.noop()
            result["noop_before"] = code
            common.wait(cfg)
            try:
                code, text = smtp.noop()
                result["noop_after"] = code
                result["noop_after_text"] = text.decode("utf-8", "replace")
                # A 421 reply closes the session (RFC 5321 section 4.2.2):
                # the next command must find the connection gone.
                code, _ = smtp.noop()
                result["second_noop_after"] = code
            except Exception as exc:  # noqa: BLE001 - the expected outcome
                result["after"] = common.describe(exc)
            return
        smtp.quit()
        result["quit"] = True
    except Exception as exc:  # noqa: BLE001 - reported to the test
        result.update(common.describe(exc))
        result["stage"] = "session"
    finally:
        common.emit(result)


if __name__ == "__main__":
    main()
