"""HTTP hello server: gevent's pywsgi with a plain WSGI application.

usage: python http_gevent_pywsgi.py PORT BODY_SIZE
"""

import sys

from gevent.pywsgi import WSGIServer


def main() -> None:
    port, size = int(sys.argv[1]), int(sys.argv[2])
    body = b"x" * size if size else b"Hello World"
    headers = [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))]

    def app(environ, start_response):  # type: ignore[no-untyped-def]
        start_response("200 OK", headers)
        return [body]

    WSGIServer(("127.0.0.1", port), app, log=None, backlog=1024).serve_forever()


if __name__ == "__main__":
    main()
