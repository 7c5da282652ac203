"""Small HTTP stand-ins for the client's tests: a server that answers from
a script (to produce what a real apiserver rarely does: 503s, 429s, retry
hints, silent streams), and a TCP proxy that cuts a connection after the
first event of a stream (to make a real stream reconnect)."""

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Request:
    """A request the scripted server received."""

    def __init__(self, method, path, headers, body):
        self.method, self.path, self.headers, self.body = method, path, headers, body
        self.at = time.monotonic()


class ScriptedServer:
    """Answers each request with the next step of its script. A step is
    (status, headers, body bytes or str), or a function(handler) that
    writes the answer itself. Requests past the script get 500."""

    def __init__(self, *steps):
        self.steps = list(steps)
        self.requests = []
        self.lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _any(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with server.lock:
                    # self.headers looks names up case-insensitively, as HTTP does.
                    server.requests.append(Request(self.command, self.path, self.headers, body))
                    step = server.steps.pop(0) if server.steps else (500, {}, "script exhausted")
                if callable(step):
                    step(self)
                    return
                status, headers, data = step
                data = data.encode() if isinstance(data, str) else data
                self.send_response(status)
                headers = dict(headers)
                headers.setdefault("Content-Type", "application/json")
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(data)
                self.close_connection = True

            do_GET = do_POST = do_DELETE = _any

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = "http://127.0.0.1:%d" % self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def sse(*chunks, hold=None):
    """A script step answering an event stream made of chunks (str), then
    closing; with hold (a threading.Event), the stream stays open and
    silent until it is set."""

    def answer(h):
        h.send_response(200)
        h.send_header("Content-Type", "text/event-stream")
        h.send_header("Cache-Control", "no-cache")
        h.send_header("Connection", "close")
        h.end_headers()
        for c in chunks:
            h.wfile.write(c.encode())
            h.wfile.flush()
        if hold is not None:
            hold.wait(30)
        h.close_connection = True

    return answer


def slow(step, seconds):
    """A script step answered after a delay (a long poll that waits)."""

    def answer(h):
        time.sleep(seconds)
        status, headers, data = step
        data = data.encode() if isinstance(data, str) else data
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.send_header("Connection", "close")
        h.end_headers()
        h.wfile.write(data)
        h.close_connection = True

    return answer


def free_port():
    """A loopback port nothing listens on (at the time of asking)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class CutProxy:
    """A TCP proxy to real apiservers. Connection n goes to upstreams[n]
    (the last one for the rest). The first connection is cut, both ways,
    once `cut_after` events (a line of data ending in a blank line) went
    through it, as a dying instance or a dropped network would."""

    def __init__(self, upstreams, cut_after=1):
        self.upstreams = [u.replace("http://", "").rstrip("/") for u in upstreams]
        self.cut_after = cut_after
        self.heads = []  # the request head of each connection, as text
        self.cuts = 0
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.url = "http://127.0.0.1:%d" % self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.sock.close()

    def _accept(self):
        n = 0
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            host, port = self.upstreams[min(n, len(self.upstreams) - 1)].split(":")
            threading.Thread(target=self._pipe, args=(client, (host, int(port)), n == 0), daemon=True).start()
            n += 1

    def _pipe(self, client, upstream, cut):
        up = socket.create_connection(upstream)
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = client.recv(65536)
            if not chunk:
                break
            head += chunk
        with self.lock:
            self.heads.append(head.decode("latin-1"))
        up.sendall(head)
        threading.Thread(target=self._copy, args=(client, up), daemon=True).start()
        seen = b""
        try:
            while True:
                chunk = up.recv(65536)
                if not chunk:
                    break
                if cut:
                    seen += chunk
                    if seen.count(b"}\n\n") >= self.cut_after:
                        # Pass on the events, then drop the connection mid-stream.
                        client.sendall(chunk)
                        with self.lock:
                            self.cuts += 1
                        break
                client.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (client, up):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()

    @staticmethod
    def _copy(src, dst):
        try:
            while True:
                chunk = src.recv(65536)
                if not chunk:
                    return
                dst.sendall(chunk)
        except OSError:
            return
