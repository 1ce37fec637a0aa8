"""A TCP proxy that stops answering on demand: the store that accepts calls and never
answers, for tests/bench-hung-store.sh.

    python3 tests/hung_proxy.py LISTEN_PORT UPSTREAM_HOST:PORT CONTROL_FILE

While CONTROL_FILE exists, whatever clients send is read and dropped: connections open, no
answer ever comes. Otherwise bytes pass both ways.
"""

import asyncio
import os
import sys


async def pump_up(reader, writer, control):
    while True:
        data = await reader.read(65536)
        if not data:
            break
        if os.path.exists(control):
            continue  # swallowed: the request never arrives
        writer.write(data)
        await writer.drain()
    writer.close()


async def pump_down(reader, writer):
    while True:
        data = await reader.read(65536)
        if not data:
            break
        writer.write(data)
        await writer.drain()
    writer.close()


async def main():
    listen_port, upstream, control = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    host, port = upstream.rsplit(":", 1)

    async def handle(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection(host, int(port))
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(
            pump_up(client_reader, server_writer, control),
            pump_down(server_reader, client_writer),
            return_exceptions=True,
        )

    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
