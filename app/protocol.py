"""uvicorn's HTTP protocol (httptools) with a deadline for each request to arrive whole.

uvicorn times out only an idle keep-alive connection, and only after a response:
a connection that sends nothing, a partial request line, headers without their
blank line or a short body stays open for as long as the client likes, and a
few hundred such connections hold a server's file descriptors and memory. Here
a request must arrive in full (line, headers and body) within
`request_timeout_seconds` of its first byte, or of the connection's opening;
otherwise the server answers 408 and closes the connection. A slow client that
trickles a byte at a time gains nothing: the deadline is for the whole request.
"""

from __future__ import annotations

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.settings import get_settings

TIMEOUT_ANSWER = (b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
                  b"content-length: 36\r\nconnection: close\r\n\r\nthe request did not arrive in time\r\n")


class RequestDeadlineProtocol(HttpToolsProtocol):
    """HttpToolsProtocol, closing a connection whose request has not fully arrived in time."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.request_timeout = get_settings().request_timeout_seconds
        self.deadline = None

    def connection_made(self, transport) -> None:
        super().connection_made(transport)
        self._arm()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm()

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()

    def connection_lost(self, exc) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        if self.deadline is None:
            self.deadline = self.loop.call_later(self.request_timeout, self._expired)

    def _disarm(self) -> None:
        if self.deadline is not None:
            self.deadline.cancel()
            self.deadline = None

    def _expired(self) -> None:
        self.deadline = None
        if self.transport.is_closing():
            return
        if self.cycle is None or not self.cycle.response_started:
            self.transport.write(TIMEOUT_ANSWER)
        self.transport.close()
