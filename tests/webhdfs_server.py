"""A WebHDFS stand-in for tests, following WebHDFS.md: a NameNode and a DataNode listener (two real
threaded HTTP servers on 127.0.0.1), an in-memory namespace with owners and permissions.

- CREATE / APPEND / OPEN are two steps: the NameNode answers 307 with a DataNode `Location` (or
  `200 {"Location": ...}` with `noredirect=true`); the DataNode takes or gives the data (CREATE → 201);
- errors are `{"RemoteException": {"exception", "javaClassName", "message"}}` with WebHDFS's status codes
  (400 IllegalArgument, 401 Security, 403 AccessControl/IOException/Standby, 404 FileNotFound);
- auth: `user.name` (simple; `require_user` refuses anonymous calls), `delegation=TOKEN`, or
  `Authorization: Negotiate <token>`; `standby=True` makes a NameNode answer StandbyException.
Ops: CREATE, APPEND, OPEN, MKDIRS, GETFILESTATUS, LISTSTATUS, DELETE, RENAME, GETHOMEDIRECTORY,
GETCONTENTSUMMARY, SETPERMISSION, SETOWNER.
"""

from __future__ import annotations

import json
import posixpath
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

SUPERUSER = "hdfs"
_JAVA = {
    "FileNotFoundException": "java.io.FileNotFoundException",
    "AccessControlException": "org.apache.hadoop.security.AccessControlException",
    "FileAlreadyExistsException": "org.apache.hadoop.fs.FileAlreadyExistsException",
    "PathIsNotEmptyDirectoryException": "org.apache.hadoop.fs.PathIsNotEmptyDirectoryException",
    "IllegalArgumentException": "java.lang.IllegalArgumentException",
    "SecurityException": "java.lang.SecurityException",
    "StandbyException": "org.apache.hadoop.ipc.StandbyException",
    "InvalidToken": "org.apache.hadoop.security.token.SecretManager$InvalidToken",
    "ParentNotDirectoryException": "org.apache.hadoop.fs.ParentNotDirectoryException",
}
_STATUS = {"FileNotFoundException": 404, "IllegalArgumentException": 400, "SecurityException": 401}


class RemoteError(Exception):
    def __init__(self, exception: str, message: str):
        super().__init__(message)
        self.exception = exception
        self.message = message

    @property
    def status(self) -> int:
        return _STATUS.get(self.exception, 403)


@dataclass
class Node:
    kind: str  # FILE or DIRECTORY
    owner: str
    group: str = "supergroup"
    permission: str = "755"
    data: bytearray = field(default_factory=bytearray)
    mtime: int = field(default_factory=lambda: int(time.time() * 1000))
    file_id: int = 0


@dataclass
class Recorded:
    server: str  # "namenode" or "datanode"
    method: str
    path: str
    query: dict
    body_length: int
    headers: dict


class WebHdfsTestServer:
    """`start()`, then `url` is the NameNode (`http://127.0.0.1:PORT`); `requests` records every call."""

    def __init__(self, *, require_user: bool = False, tokens: dict[str, str] | None = None,
                 negotiate_users: dict[str, str] | None = None, root_permission: str = "777",
                 standby: bool = False):
        self.require_user = require_user
        self.tokens = tokens or {}
        self.negotiate_users = negotiate_users or {}
        self.standby = standby
        self.nodes: dict[str, Node] = {"/": Node("DIRECTORY", SUPERUSER, permission=root_permission, file_id=16385)}
        self.requests: list[Recorded] = []
        self.lock = threading.RLock()
        self._next_id = 16386
        self._namenode: ThreadingHTTPServer | None = None
        self._datanode: ThreadingHTTPServer | None = None

    # -- lifecycle -----------------------------------------------------------------------------------
    def start(self) -> "WebHdfsTestServer":
        server = self

        class NameNode(_NameNodeHandler):
            hdfs = server

        class DataNode(_DataNodeHandler):
            hdfs = server

        self._namenode = ThreadingHTTPServer(("127.0.0.1", 0), NameNode)
        self._datanode = ThreadingHTTPServer(("127.0.0.1", 0), DataNode)
        for httpd in (self._namenode, self._datanode):
            httpd.daemon_threads = True
            threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        for httpd in (self._namenode, self._datanode):
            if httpd is not None:
                httpd.shutdown()
                httpd.server_close()
        self._namenode = self._datanode = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._namenode.server_address[1]}"

    @property
    def datanode_url(self) -> str:
        return f"http://127.0.0.1:{self._datanode.server_address[1]}"

    # -- helpers for tests ---------------------------------------------------------------------------
    def count(self, server: str | None = None, op: str | None = None) -> int:
        with self.lock:
            return sum(1 for r in self.requests if (server is None or r.server == server)
                       and (op is None or r.query.get("op", "").upper() == op))

    def read(self, path: str) -> bytes:
        with self.lock:
            return bytes(self.nodes[path].data)

    def mkdir(self, path: str, owner: str = SUPERUSER, permission: str = "755") -> None:
        with self.lock:
            self._mkdirs(path, owner)
            self.nodes[path].permission = permission

    # -- namespace -----------------------------------------------------------------------------------
    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _get(self, path: str) -> Node:
        node = self.nodes.get(path)
        if node is None:
            raise RemoteError("FileNotFoundException", f"File does not exist: {path}")
        return node

    def _check_write(self, path: str, user: str) -> None:
        """The parent of `path` (its nearest existing ancestor) must be writable by `user`."""
        parent = posixpath.dirname(path.rstrip("/")) or "/"
        while parent not in self.nodes:
            parent = posixpath.dirname(parent) or "/"
        node = self.nodes[parent]
        if node.kind != "DIRECTORY":
            raise RemoteError("ParentNotDirectoryException", f"{parent} (is not a directory)")
        if user == SUPERUSER:
            return
        digit = node.permission[0] if node.owner == user else node.permission[2]
        if not int(digit) & 2:
            mode = _mode_string(node)
            raise RemoteError("AccessControlException", f'Permission denied: user={user}, access=WRITE, '
                                                        f'inode="{parent}":{node.owner}:{node.group}:{mode}')

    def _mkdirs(self, path: str, user: str) -> None:
        parts = [p for p in path.split("/") if p]
        current = ""
        for part in parts:
            current += "/" + part
            node = self.nodes.get(current)
            if node is None:
                self.nodes[current] = Node("DIRECTORY", user, file_id=self._new_id())
            elif node.kind != "DIRECTORY":
                raise RemoteError("ParentNotDirectoryException", f"{current} (is not a directory)")

    def _children(self, path: str) -> list[str]:
        prefix = path.rstrip("/") + "/"
        return sorted(p for p in self.nodes if p.startswith(prefix) and "/" not in p[len(prefix):] and p != "/")

    def status(self, path: str, suffix: str) -> dict:
        node = self.nodes[path]
        return {
            "accessTime": node.mtime if node.kind == "FILE" else 0, "blockSize": 134217728 if node.kind == "FILE" else 0,
            "childrenNum": len(self._children(path)) if node.kind == "DIRECTORY" else 0, "fileId": node.file_id,
            "group": node.group, "length": len(node.data), "modificationTime": node.mtime, "owner": node.owner,
            "pathSuffix": suffix, "permission": node.permission, "replication": 3 if node.kind == "FILE" else 0,
            "storagePolicy": 0, "type": node.kind,
        }

    # -- operations ----------------------------------------------------------------------------------
    def namenode_op(self, method: str, op: str, path: str, query: dict, user: str, handler) -> tuple[int, object]:
        """(status, JSON body or redirect URL) for a NameNode operation."""
        if self.standby:
            raise RemoteError("StandbyException", f"Operation category {'READ' if method == 'GET' else 'WRITE'} "
                                                  "is not supported in state standby. Visit https://s.apache.org/sbnn-error")
        with self.lock:
            if method == "GET" and op == "GETFILESTATUS":
                self._get(path)
                return 200, {"FileStatus": self.status(path, "")}
            if method == "GET" and op == "LISTSTATUS":
                node = self._get(path)
                if node.kind == "FILE":
                    return 200, {"FileStatuses": {"FileStatus": [self.status(path, "")]}}
                return 200, {"FileStatuses": {"FileStatus": [self.status(c, posixpath.basename(c))
                                                             for c in self._children(path)]}}
            if method == "GET" and op == "GETHOMEDIRECTORY":
                return 200, {"Path": f"/user/{user}"}
            if method == "GET" and op == "GETCONTENTSUMMARY":
                self._get(path)
                under = [p for p in self.nodes if p == path or p.startswith(path.rstrip("/") + "/")]
                files = [p for p in under if self.nodes[p].kind == "FILE"]
                size = sum(len(self.nodes[p].data) for p in files)
                return 200, {"ContentSummary": {"directoryCount": len(under) - len(files), "fileCount": len(files),
                                                "length": size, "quota": -1, "spaceConsumed": size * 3,
                                                "spaceQuota": -1}}
            if method == "GET" and op == "OPEN":
                if self._get(path).kind != "FILE":
                    raise RemoteError("FileNotFoundException", f"Path is not a file: {path}")
                return self._redirect(path, query)
            if method == "PUT" and op == "CREATE":
                if handler.body_length:
                    raise RemoteError("IllegalArgumentException", "CREATE data must go to the DataNode, not the "
                                                                  "NameNode (follow the 307 Location)")
                node = self.nodes.get(path)
                if node is not None and node.kind == "DIRECTORY":
                    raise RemoteError("FileAlreadyExistsException", f"{path} already exists as a directory")
                if node is not None and query.get("overwrite", "false").lower() != "true":
                    raise RemoteError("FileAlreadyExistsException", f"{path} for client 127.0.0.1 already exists")
                self._check_write(path, user)
                return self._redirect(path, query)
            if method == "POST" and op == "APPEND":
                if self._get(path).kind != "FILE":
                    raise RemoteError("FileNotFoundException", f"Path is not a file: {path}")
                self._check_write(path, user)
                return self._redirect(path, query)
            if method == "PUT" and op == "MKDIRS":
                self._check_write(path, user)
                self._mkdirs(path, user)
                return 200, {"boolean": True}
            if method == "PUT" and op == "RENAME":
                return 200, {"boolean": self._rename(path, query.get("destination", ""), user)}
            if method == "DELETE" and op == "DELETE":
                return 200, {"boolean": self._delete(path, query.get("recursive", "false").lower() == "true", user)}
            if method == "PUT" and op == "SETPERMISSION":
                self._get(path).permission = query.get("permission", "755")
                return 200, None
            if method == "PUT" and op == "SETOWNER":
                node = self._get(path)
                node.owner = query.get("owner", node.owner)
                node.group = query.get("group", node.group)
                return 200, None
        raise RemoteError("IllegalArgumentException", f'Invalid value for webhdfs parameter "op": '
                                                      f"No enum constant for {method} {op}")

    def _redirect(self, path: str, query: dict):
        params = {k: v for k, v in query.items() if k != "noredirect"}
        params["namenoderpcaddress"] = "127.0.0.1:8020"
        location = f"{self.datanode_url}/webhdfs/v1{quote(path)}?{urlencode(params)}"
        if query.get("noredirect", "false").lower() == "true":
            return 200, {"Location": location}
        return 307, location

    def _rename(self, source: str, destination: str, user: str) -> bool:
        if source not in self.nodes or not destination.startswith("/") or source == "/":
            return False
        if destination in self.nodes and self.nodes[destination].kind == "DIRECTORY":
            destination = posixpath.join(destination, posixpath.basename(source))
        if destination in self.nodes or (posixpath.dirname(destination) or "/") not in self.nodes:
            return False
        self._check_write(source, user)
        self._check_write(destination, user)
        moved = {p: n for p, n in self.nodes.items() if p == source or p.startswith(source + "/")}
        for old, node in moved.items():
            del self.nodes[old]
            self.nodes[destination + old[len(source):]] = node
        return True

    def _delete(self, path: str, recursive: bool, user: str) -> bool:
        if path not in self.nodes or path == "/":
            return False
        children = self._children(path)
        if children and not recursive:
            raise RemoteError("PathIsNotEmptyDirectoryException", f"`{path} is non empty': Directory is not empty")
        self._check_write(path, user)
        for p in [p for p in self.nodes if p == path or p.startswith(path + "/")]:
            del self.nodes[p]
        return True

    def datanode_op(self, method: str, op: str, path: str, query: dict, body: bytes, user: str) -> tuple[int, object]:
        with self.lock:
            if method == "PUT" and op == "CREATE":
                self._check_write(path, user)
                if query.get("createparent", "true").lower() == "true":
                    self._mkdirs(posixpath.dirname(path), user)
                self.nodes[path] = Node("FILE", user, permission=query.get("permission", "644"),
                                        data=bytearray(body), file_id=self._new_id())
                return 201, None
            if method == "POST" and op == "APPEND":
                node = self._get(path)
                node.data += body
                node.mtime = int(time.time() * 1000)
                return 200, None
            if method == "GET" and op == "OPEN":
                data = bytes(self._get(path).data)
                offset = int(query.get("offset", 0))
                length = query.get("length")
                return 200, data[offset: offset + int(length)] if length else data[offset:]
        raise RemoteError("IllegalArgumentException", f"the DataNode does not serve {method} {op}")


def _mode_string(node: Node) -> str:
    bits = "".join("rwx"[i % 3] if int(node.permission[i // 3]) & (4 >> (i % 3)) else "-" for i in range(9))
    return ("d" if node.kind == "DIRECTORY" else "-") + bits


class _BaseHandler(BaseHTTPRequestHandler):
    hdfs: WebHdfsTestServer
    protocol_version = "HTTP/1.1"
    role = ""

    def log_message(self, *args):
        pass

    def _send(self, code: int, body=None, headers: dict | None = None, content_type: str = "application/json"):
        data = b"" if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        if data:
            self.send_header("Content-Type", content_type)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _remote(self, error: RemoteError):
        self._send(error.status, {"RemoteException": {"exception": error.exception, "message": error.message,
                                                      "javaClassName": _JAVA.get(error.exception, "java.io.IOException")}})

    def _user(self, query: dict) -> str:
        server = self.hdfs
        if server.negotiate_users:
            token = self.headers.get("Authorization", "").partition("Negotiate ")[2].strip()
            if token in server.negotiate_users:
                return server.negotiate_users[token]
            if "delegation" not in query:
                raise RemoteError("SecurityException", "Authentication required")
        if "delegation" in query:
            if query["delegation"] not in server.tokens:
                raise RemoteError("InvalidToken", "token can't be found in cache")
            return server.tokens[query["delegation"]]
        user = query.get("user.name")
        if not user and server.require_user:
            raise RemoteError("SecurityException", "Failed to obtain user group information: no user.name given "
                                                   "and anonymous access is disabled")
        return user or "dr.who"

    def _handle(self, method: str):
        parts = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(parts.query, keep_blank_values=True).items()}
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.body_length = len(body)
        with self.hdfs.lock:
            self.hdfs.requests.append(Recorded(self.role, method, parts.path, query, len(body), dict(self.headers)))
        if not parts.path.startswith("/webhdfs/v1"):
            return self._remote(RemoteError("IllegalArgumentException", f"not a WebHDFS path: {parts.path}"))
        path = unquote(parts.path[len("/webhdfs/v1"):]) or "/"
        path = posixpath.normpath(path) if path != "/" else "/"
        op = query.get("op", "").upper()
        try:
            user = self._user(query)
            self._dispatch(method, op, path, query, body, user)
        except RemoteError as error:
            self._remote(error)

    do_GET = lambda self: self._handle("GET")  # noqa: E731
    do_PUT = lambda self: self._handle("PUT")  # noqa: E731
    do_POST = lambda self: self._handle("POST")  # noqa: E731
    do_DELETE = lambda self: self._handle("DELETE")  # noqa: E731


class _NameNodeHandler(_BaseHandler):
    role = "namenode"

    def _dispatch(self, method, op, path, query, body, user):
        code, answer = self.hdfs.namenode_op(method, op, path, query, user, self)
        if code == 307:
            return self._send(307, None, headers={"Location": answer})
        self._send(code, answer)


class _DataNodeHandler(_BaseHandler):
    role = "datanode"

    def _dispatch(self, method, op, path, query, body, user):
        code, answer = self.hdfs.datanode_op(method, op, path, query, body, user)
        if code == 201:
            return self._send(201, None, headers={"Location": f"hdfs://127.0.0.1:8020{quote(path)}"})
        if isinstance(answer, bytes):
            return self._send(code, answer, content_type="application/octet-stream")
        self._send(code, answer)
