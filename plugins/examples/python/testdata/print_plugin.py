#!/usr/bin/python3 -I
"""print_plugin.py is a minimal plugin for the tests of goplugin.py: it
serves saslkit's Plugin service, and Info prints a line with print(), which
must reach the host through GRPCStdio, not the handshake's pipe."""

import os
import sys

sys.dont_write_bytecode = True
_HERE = os.path.join(os.path.dirname(os.path.realpath(__file__)), "..")
sys.path[0:0] = [os.path.join(_HERE, "generated"), _HERE]

import goplugin  # noqa: E402
import saslkit_pb2  # noqa: E402
import saslkit_pb2_grpc  # noqa: E402
import token_file_plugin  # noqa: E402


class PluginService(saslkit_pb2_grpc.PluginServicer):
    def Info(self, request, context):
        print("Info was called")
        return saslkit_pb2.InfoResponse(protocol_version=token_file_plugin.HANDSHAKE.protocol_version, name="print")


def register(server, stopping):
    saslkit_pb2_grpc.add_PluginServicer_to_server(PluginService(), server)


if __name__ == "__main__":
    sys.exit(goplugin.serve(token_file_plugin.HANDSHAKE, register))
