#!/usr/bin/python3 -I
"""parse_harness.py feeds token files to token_file_plugin.parse_file for
the Go fuzz test FuzzTokenFile, without a process start per input.

It reads inputs from standard input, each a 4-byte big-endian length and
the file's bytes, and answers each with one JSON line: either the parsed
entries, or the ValueError's message, or any other exception, which is a
bug of the parser.
"""

import json
import os
import struct
import sys

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.join(os.path.dirname(os.path.realpath(__file__)), ".."))

import token_file_plugin  # noqa: E402

PATH = "/run/tokens.json"


def main():
    stdin, stdout = sys.stdin.buffer, sys.stdout
    while True:
        head = stdin.read(4)
        if len(head) < 4:
            return 0
        (n,) = struct.unpack(">I", head)
        data = stdin.read(n)
        try:
            entries = token_file_plugin.parse_file(data, PATH)
            out = {
                "entries": {
                    account: {
                        "access_token": e.access_token,
                        "token_type": e.token_type,
                        "expiry_millis": e.expiry_millis,
                        "scopes": e.scopes,
                    }
                    for account, e in entries.items()
                }
            }
        except ValueError as e:
            out = {"error": str(e)}
        except Exception as e:  # the bug the fuzz test looks for
            out = {"exception": f"{type(e).__name__}: {e}"}
        stdout.write(json.dumps(out) + "\n")
        stdout.flush()


if __name__ == "__main__":
    sys.exit(main())
