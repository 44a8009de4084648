#!/usr/bin/env python3
"""A TLS front for apiextensions-apiserver that makes it usable as a test cluster.

The front serves what the CRD-only server lacks and forwards everything else:

* /api, /api/v1 and /apis discovery, built from the CRDs the server holds;
* OpenAPI v3 documents for CRD groups and core v1, built from CRD schemas;
* core v1 kinds (kinds.CORE_CRDS) stored as CRDs in kinds.SHADOW_GROUP, with
  /api/v1 paths and apiVersion "v1" mapped in requests and responses;
* EndpointSlice, Lease and events.k8s.io Event, registered at startup as
  CRDs in their own groups.

Clients must present a certificate signed by --ca. The front reaches the
server with its own client certificate, so every request runs with that
identity (system:masters in start.sh), whichever certificate the client presents.

Standard library only (tested with Python 3.11, Debian 12's version).
"""

import argparse
import http.client
import http.server
import json
import logging
import re
import signal
import ssl
import sys
import time
import urllib.parse

import kinds
import openapi

LOG = logging.getLogger("front")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "host", "content-length", "accept-encoding", "authorization",
              "proxy-authorization", "proxy-connection"}
STARTUP_TIMEOUT_SECONDS = 60


class UpstreamError(Exception):
    """A request to the API server failed or returned an unexpected status."""


class Upstream:
    """HTTPS client for the API server, one connection per request."""

    def __init__(self, url, ca, cert, key):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme != "https" or not parsed.hostname:
            raise ValueError(f"invalid --upstream {url!r}: expected https://HOST:PORT")
        self.host = parsed.hostname
        self.port = parsed.port or 443
        self.context = ssl.create_default_context(cafile=ca)
        self.context.load_cert_chain(cert, key)

    def open(self, method, target, body=None, headers=None, timeout=30):
        """Send a request and return (connection, response); close the connection after."""
        connection = http.client.HTTPSConnection(
            self.host, self.port, context=self.context, timeout=timeout)
        connection.request(method, target, body=body, headers=headers or {})
        return connection, connection.getresponse()

    def call(self, method, path, document=None):
        """Send a JSON request and return (status, parsed body or None)."""
        body = json.dumps(document).encode() if document is not None else None
        headers = {"Accept": "application/json", "Content-Type": "application/json"}
        connection, response = self.open(method, path, body, headers)
        try:
            data = response.read()
        finally:
            connection.close()
        try:
            return response.status, json.loads(data) if data else None
        except ValueError:
            return response.status, None

    def get_json(self, path):
        """Return the parsed body of GET PATH, raising UpstreamError unless 200."""
        status, document = self.call("GET", path)
        if status != 200 or document is None:
            raise UpstreamError(f"GET {path} returned HTTP {status}")
        return document

    def crds(self):
        """Return every CustomResourceDefinition the server holds."""
        return self.get_json("/apis/apiextensions.k8s.io/v1/customresourcedefinitions")["items"]


def wait_until(description, check, timeout=STARTUP_TIMEOUT_SECONDS):
    """Call CHECK every 200 ms until it returns true, or raise after TIMEOUT seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():
                return
        except (OSError, http.client.HTTPException, UpstreamError) as error:
            LOG.debug("%s: not yet: %s", description, error)
        if time.monotonic() >= deadline:
            raise UpstreamError(f"timed out after {timeout} s waiting for {description}")
        time.sleep(0.2)


def bootstrap(upstream):
    """Register the built-in kinds and initial namespaces; return the meta schemas."""
    wait_until("the API server to be healthy", lambda: upstream.call("GET", "/healthz")[0] == 200)

    path = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions"
    for crd in kinds.all_crds():
        status, body = upstream.call("POST", path, crd)
        if status not in (201, 409):
            raise UpstreamError(f"creating CRD {crd['metadata']['name']} returned HTTP {status}: {body}")

    wanted = {crd["metadata"]["name"] for crd in kinds.all_crds()}

    def all_established():
        ready = {c["metadata"]["name"] for c in upstream.crds() if openapi.is_established(c)}
        return wanted <= ready

    wait_until("the built-in kinds' CRDs to be established", all_established)

    namespaces = f"/apis/{kinds.SHADOW_API_VERSION}/{kinds.STORED_PLURALS['namespaces']}"
    for name in kinds.INITIAL_NAMESPACES:
        status, body = upstream.call("POST", namespaces, kinds.namespace_object(name))
        if status not in (201, 409):
            raise UpstreamError(f"creating namespace {name} returned HTTP {status}: {body}")

    document = upstream.get_json("/openapi/v3/apis/apiextensions.k8s.io/v1")
    return openapi.meta_schemas(document)


def is_watch(path, query):
    """Return whether a request opens a watch stream."""
    values = urllib.parse.parse_qs(query).get("watch", [])
    return "/watch/" in path or any(v in ("true", "1") for v in values)


def rewrite_request_body(body, content_type):
    """Return BODY for a core kind rewritten into SHADOW_GROUP form, and its content type."""
    # NOTE: CRDs accept no strategic merge patch, so one is sent as a JSON merge
    # patch. The two agree unless the patch uses list merge keys or $patch.
    if content_type.startswith("application/strategic-merge-patch+json"):
        content_type = "application/merge-patch+json"
    if not body:
        return body, content_type
    try:
        document = json.loads(body)
    except ValueError:
        # Server-side apply may send YAML; its apiVersion line is rewritten as text.
        text = re.sub(r"(?m)^apiVersion:\s*[\"']?v1[\"']?\s*$",
                      "apiVersion: " + kinds.SHADOW_API_VERSION, body.decode())
        return text.encode(), content_type
    return json.dumps(kinds.to_shadow(document)).encode(), content_type


class FrontHandler(http.server.BaseHTTPRequestHandler):
    """Serves discovery and OpenAPI itself and forwards the rest to the API server."""

    protocol_version = "HTTP/1.1"
    server_version = "portcullis-test-front"

    def do_GET(self):  # noqa: N802 (name fixed by BaseHTTPRequestHandler)
        self.dispatch()

    do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def log_message(self, format, *args):  # noqa: A002 (signature fixed by the base class)
        LOG.debug("%s %s", self.address_string(), format % args)

    # === routing ===

    def send_response(self, code, message=None):
        self.response_started = True
        super().send_response(code, message)

    def dispatch(self):
        self.response_started = False
        # The body is read before any reply so that the next request on this
        # keep-alive connection starts where it should.
        self.body = self.read_body()
        path, _, query = self.path.partition("?")
        try:
            self.route(path, query)
        except (OSError, http.client.HTTPException, UpstreamError) as error:
            LOG.error("%s %s failed: %s", self.command, path, error)
            if self.response_started:
                self.close_connection = True
                return
            self.send_status(502, "InternalError", f"request to the API server failed: {error}")

    def route(self, path, query):
        served = self.served_document(path)
        if served is not None:
            self.send_json(200, served)
            return
        if path.startswith("/api/"):
            mapped = kinds.map_core_path(path)
            if mapped is None:
                self.send_status(404, "NotFound", f"core resource {path} is not served by the test front")
                return
            if "protobuf" in self.headers.get("Content-Type", ""):
                # CRDs accept no protobuf, and the server closes the connection on
                # such a request without a response, so reject it here with the reason.
                self.send_status(415, "UnsupportedMediaType",
                                 f"the test front accepts JSON or YAML for {path}, not protobuf")
                return
            target = mapped + ("?" + query if query else "")
            self.forward(target, path, query, rewrite=True)
            return
        self.forward(self.path, path, query, rewrite=False)

    def served_document(self, path):
        """Return the document the front builds for PATH, or None to forward it."""
        upstream = self.server.upstream
        if self.command != "GET":
            return None
        if path == "/api":
            return openapi.api_versions(f"{self.server.server_address[0]}:{self.server.server_address[1]}")
        if path == "/api/v1":
            return self.core_resource_list()
        if path == "/apis":
            return openapi.group_list(upstream.crds())
        if path == "/openapi/v3":
            return self.openapi_root()
        match = re.fullmatch(r"/openapi/v3/(api/v1|apis/([^/]+)/([^/]+))", path)
        if match and match.group(2) != "apiextensions.k8s.io":
            group = match.group(2) or ""
            version = match.group(3) or "v1"
            return self.openapi_document(group, version)
        return None

    # === documents ===

    def core_resource_list(self):
        document = self.server.upstream.get_json(f"/apis/{kinds.SHADOW_API_VERSION}")
        document["groupVersion"] = "v1"
        for resource in document.get("resources", []):
            resource.pop("storageVersionHash", None)
            plural, _, subresource = resource["name"].partition("/")
            served = kinds.SERVED_PLURALS.get(plural, plural)
            resource["name"] = served + ("/" + subresource if subresource else "")
        return document

    def openapi_document(self, group, version):
        """Return the OpenAPI v3 document of GROUP/VERSION; "" is core v1."""
        stored_group = group or kinds.SHADOW_GROUP
        crds = [c for c in self.server.upstream.crds()
                if c["spec"]["group"] == stored_group and openapi.is_established(c)]
        for crd in crds:
            names = crd["spec"]["names"]
            names["plural"] = kinds.SERVED_PLURALS.get(names["plural"], names["plural"])
        return openapi.group_version_document(crds, group, version, self.server.meta_schemas)

    def openapi_root(self):
        upstream_root = self.server.upstream.get_json("/openapi/v3")
        paths = {key: value for key, value in upstream_root.get("paths", {}).items()
                 if key == "version" or key.startswith("apis/apiextensions.k8s.io")}
        group_versions = set()
        for crd in self.server.upstream.crds():
            if openapi.is_established(crd):
                for version in openapi.served_versions(crd):
                    group_versions.add((crd["spec"]["group"], version))
        for group, version in sorted(group_versions):
            served_group = "" if group == kinds.SHADOW_GROUP else group
            key = f"apis/{group}/{version}" if served_group else "api/v1"
            digest = openapi.document_hash(self.openapi_document(served_group, version))
            paths[key] = {"serverRelativeURL": f"/openapi/v3/{key}?hash={digest}"}
        return {"paths": paths}

    # === forwarding ===

    def read_body(self):
        """Return the request body, reading a chunked one to its end."""
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    return b"".join(parts)
                parts.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def forward(self, target, path, query, rewrite):
        body = self.body
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        if rewrite:
            content_type = self.headers.get("Content-Type", "")
            body, content_type = rewrite_request_body(body, content_type)
            if content_type:
                headers["Content-Type"] = content_type
        watch = is_watch(path, query)
        timeout = None if watch else 60
        connection, response = self.server.upstream.open(
            self.command, target, body if body or self.command in ("POST", "PUT", "PATCH") else None,
            headers, timeout=timeout)
        try:
            if watch and response.status == 200:
                self.relay_stream(response, rewrite)
            else:
                self.relay_whole(response, rewrite)
        finally:
            connection.close()
        LOG.info("%s %s -> %d", self.command, self.path, response.status)

    def response_headers(self, response):
        return [(k, v) for k, v in response.getheaders() if k.lower() not in HOP_BY_HOP]

    def relay_whole(self, response, rewrite):
        data = response.read()
        is_json = response.getheader("Content-Type", "").startswith("application/json")
        if rewrite and data and is_json:
            try:
                data = json.dumps(kinds.from_shadow(json.loads(data))).encode()
            except ValueError:
                LOG.warning("response to %s is not valid JSON; sent unchanged", self.path)
        self.send_response(response.status)
        for key, value in self.response_headers(response):
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def relay_stream(self, response, rewrite):
        """Copy a watch stream, one JSON event a line, in chunked encoding."""
        self.send_response(response.status)
        for key, value in self.response_headers(response):
            self.send_header(key, value)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            while True:
                line = response.readline()
                if not line:
                    break
                if rewrite and line.strip():
                    line = json.dumps(kinds.from_shadow(json.loads(line))).encode() + b"\n"
                self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        except OSError as error:
            # Clients end watches by closing the connection, which shows up
            # here as a reset or, under TLS, an unexpected EOF.
            LOG.debug("watch on %s ended: %s", self.path, error)
        self.close_connection = True

    # === replies ===

    def send_json(self, status, document):
        data = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def send_status(self, code, reason, message):
        self.send_json(code, {"kind": "Status", "apiVersion": "v1", "metadata": {},
                              "status": "Failure", "message": message, "reason": reason,
                              "code": code})


class FrontServer(http.server.ThreadingHTTPServer):
    """Threaded HTTPS server with the upstream client and the meta/v1 schemas."""

    daemon_threads = True

    def __init__(self, address, upstream, meta_schemas, context):
        super().__init__(address, FrontHandler)
        self.upstream = upstream
        self.meta_schemas = meta_schemas
        # The handshake runs on the first read, in the request's own thread,
        # so a slow client does not hold up the accept loop.
        self.socket = context.wrap_socket(self.socket, server_side=True,
                                          do_handshake_on_connect=False)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listen", required=True, help="HOST:PORT to listen on, e.g. 127.0.0.1:8443")
    parser.add_argument("--upstream", required=True, help="API server URL, https://HOST:PORT")
    parser.add_argument("--ca", required=True, help="CA file that signs client and server certificates")
    parser.add_argument("--cert", required=True, help="serving certificate file (PEM)")
    parser.add_argument("--key", required=True, help="serving private key file (PEM)")
    parser.add_argument("--client-cert", required=True, help="certificate the front presents to the API server")
    parser.add_argument("--client-key", required=True, help="private key of --client-cert")
    parser.add_argument("--log-level", default="INFO", help="DEBUG, INFO, WARNING or ERROR (default INFO)")
    return parser.parse_args(argv)


def stop_on_signal(signum, _frame):
    """Leave serve_forever through the same path as Ctrl-C."""
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv):
    args = parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    host, _, port = args.listen.rpartition(":")
    upstream = Upstream(args.upstream, args.ca, args.client_cert, args.client_key)

    try:
        meta_schemas = bootstrap(upstream)
    except (OSError, http.client.HTTPException, UpstreamError) as error:
        LOG.error("startup failed: %s", error)
        return 1
    LOG.info("registered %d built-in kinds as CRDs", len(kinds.all_crds()))

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    context.load_verify_locations(args.ca)
    context.verify_mode = ssl.CERT_REQUIRED
    server = FrontServer((host, int(port)), upstream, meta_schemas, context)
    signal.signal(signal.SIGTERM, stop_on_signal)
    LOG.info("listening on https://%s, forwarding to %s", args.listen, args.upstream)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        LOG.info("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
