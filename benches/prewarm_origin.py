#!/usr/bin/env python3
"""A Hub-like origin for benches/prewarm.sh: one model repository whose files are the regular
files of a directory, served the way the Hub's "simple mode" serves them (200 straight from
/resolve, with X-Repo-Commit, X-Linked-Etag "<sha256>", X-Linked-Size), plus the revision and
tree answers snapshot_download asks for. Loopback only; standard library only.

Usage: prewarm_origin.py DIR REPO_ID PORT_FILE
Writes the port it listens on to PORT_FILE once it accepts connections.
"""
import hashlib
import http.server
import json
import os
import socketserver
import sys
import urllib.parse

DIR, REPO, PORT_FILE = sys.argv[1], sys.argv[2], sys.argv[3]
COMMIT = "c0ffee" + "0" * 34
FILES = {}
for name in sorted(os.listdir(DIR)):
    path = os.path.join(DIR, name)
    if os.path.isfile(path):
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        FILES[name] = (path, os.path.getsize(path), h.hexdigest())


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def json(self, value):
        body = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Repo-Commit", COMMIT)
        self.end_headers()
        if self.command == "GET":
            self.wfile.write(body)

    def missing(self):
        self.send_response(404)
        self.send_header("X-Error-Code", "RepoNotFound")
        self.send_header("X-Error-Message", "Repository not found")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        path = urllib.parse.urlsplit(self.path).path
        api = f"/api/models/{REPO}"
        if path in (api, f"{api}/revision/main", f"{api}/revision/{COMMIT}"):
            return self.json({"id": REPO, "modelId": REPO, "sha": COMMIT, "private": False,
                              "siblings": [{"rfilename": n} for n in FILES]})
        if path in (f"{api}/tree/main", f"{api}/tree/{COMMIT}"):
            return self.json([{"type": "file", "path": n, "size": size, "oid": sha[:40],
                               "lfs": {"oid": sha, "size": size, "pointerSize": 134}}
                              for n, (_, size, sha) in FILES.items()])
        prefix = f"/{REPO}/resolve/"
        if not path.startswith(prefix):
            return self.missing()
        rev, _, name = path[len(prefix):].partition("/")
        name = urllib.parse.unquote(name)
        if rev not in ("main", COMMIT) or name not in FILES:
            return self.missing()
        file, size, sha = FILES[name]
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(size))
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", f'"{sha}"')
        self.send_header("X-Linked-Etag", f'"{sha}"')
        self.send_header("X-Linked-Size", str(size))
        self.send_header("Accept-Ranges", "bytes")
        self.end_headers()
        if self.command == "GET":
            with open(file, "rb") as f:
                self.wfile.flush()
                sent = 0
                while sent < size:
                    n = os.sendfile(self.connection.fileno(), f.fileno(), sent, size - sent)
                    if n == 0:
                        break
                    sent += n


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


server = Server(("127.0.0.1", 0), Handler)
with open(PORT_FILE + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(PORT_FILE + ".tmp", PORT_FILE)
server.serve_forever()
