"""emulator.httpclient against real sockets: each test's server writes the exact bytes of an answer."""

import asyncio

import pytest

from emulator.httpclient import HttpClient, HttpError


async def _serve(answers, requests, close_after=None):
    """A TCP server answering the n-th request on each connection with `answers[n]` (bytes, or a list of bytes
    written with a pause between them); closes each connection after `close_after` answers."""

    async def handle(reader, writer):
        served = 0
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:"))
                body = await reader.readexactly(length)
                requests.append((head, body, writer.get_extra_info("peername")[1]))
                answer = answers[min(len(requests) - 1, len(answers) - 1)]
                for part in answer if isinstance(answer, list) else [answer]:
                    writer.write(part)
                    await writer.drain()
                    await asyncio.sleep(0.01)
                served += 1
                if close_after is not None and served >= close_after:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/fn?x=1"


def _run(coro):
    return asyncio.run(coro)


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK"


def test_request_bytes_and_a_kept_alive_connection():
    async def scenario():
        requests = []
        server, url = await _serve([OK], requests)
        client = HttpClient()
        try:
            for i in range(5):
                assert await client.post(url, b'{"a":%d}' % i, {"ce-id": str(i)}, 5) == (200, b"OK")
        finally:
            client.close()
            server.close()
        return requests, client.connections_opened

    requests, opened = _run(scenario())
    head, body, _ = requests[0]
    assert head.startswith(b"POST /fn?x=1 HTTP/1.1\r\nHost: 127.0.0.1:")
    assert b"\r\nce-id: 0\r\n" in head and b"\r\nContent-Length: 7\r\n" in head
    assert body == b'{"a":0}'
    assert opened == 1 and len({port for _, _, port in requests}) == 1


@pytest.mark.parametrize("answer, expected", [
    ([b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n", b"4;x=y\r\nWiki\r\n", b"5\r\npedia\r\n0\r\n\r\n"],
     (200, b"Wikipedia")),
    ([b"HTTP/1.1 100 Continue\r\n\r\n", b"HTTP/1.1 204 No Content\r\n\r\n"], (204, b"")),
    ([b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 4\r\n\r\nbo", b"om"], (500, b"boom")),
])
def test_answer_framings(answer, expected):
    async def scenario():
        requests = []
        server, url = await _serve([answer], requests)
        client = HttpClient()
        try:
            first = await client.post(url, b"{}", {}, 5)
            second = await client.post(url, b"{}", {}, 5)  # the same connection, framing understood
        finally:
            client.close()
            server.close()
        return first, second, client.connections_opened

    first, second, opened = _run(scenario())
    assert first == expected and second == expected and opened == 1


def test_an_answer_ended_by_closing_the_connection_is_read_and_not_reused():
    async def scenario():
        requests = []
        server, url = await _serve([b"HTTP/1.0 200 OK\r\n\r\nall of it"], requests, close_after=1)
        client = HttpClient()
        try:
            results = [await client.post(url, b"{}", {}, 5) for _ in range(3)]
        finally:
            client.close()
            server.close()
        return results, client.connections_opened

    results, opened = _run(scenario())
    assert results == [(200, b"all of it")] * 3 and opened == 3


def test_a_kept_alive_connection_closed_by_the_server_while_idle_is_replaced():
    async def scenario():
        requests = []
        server, url = await _serve([OK], requests, close_after=1)  # closes after each answer, keep-alive or not
        client = HttpClient()
        try:
            results = []
            for _ in range(3):
                results.append(await client.post(url, b"{}", {}, 5))
        finally:
            client.close()
            server.close()
        return results, len(requests)

    results, served = _run(scenario())
    assert results == [(200, b"OK")] * 3 and served == 3


def test_refused_timeout_and_header_injection_are_errors():
    async def scenario():
        client = HttpClient()
        server = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)  # accepts, never answers
        port = server.sockets[0].getsockname()[1]
        silent = f"http://127.0.0.1:{port}/"
        server_closed = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        refused = f"http://127.0.0.1:{server_closed.sockets[0].getsockname()[1]}/"
        server_closed.close()
        await server_closed.wait_closed()
        try:
            with pytest.raises(HttpError):
                await client.post(refused, b"{}", {}, 5)
            with pytest.raises(asyncio.TimeoutError):
                await client.post(silent, b"{}", {}, 0.2)
            with pytest.raises(ValueError):
                await client.post(silent, b"{}", {"ce-subject": "a\r\nX-Injected: 1"}, 5)
        finally:
            client.close()
            server.close()

    _run(scenario())


def test_invalid_answers_are_errors():
    async def scenario():
        requests = []
        server, url = await _serve([b"NOT HTTP\r\n\r\n"], requests)
        client = HttpClient()
        try:
            with pytest.raises(HttpError):
                await client.post(url, b"{}", {}, 5)
        finally:
            client.close()
            server.close()

    _run(scenario())
