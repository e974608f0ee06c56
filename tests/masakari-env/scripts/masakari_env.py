#!/usr/bin/python3
"""The pieces of the Masakari test environment that have to be Python.

  masakari_env.py masakari DIR     the real Masakari API and engine in one process
                                   (fake:// transport only delivers inside one process)
  masakari_env.py stub DIR PORT    keystone + nova stand-in; os-stop/os-start act on libvirt
  masakari_env.py setup DIR HOST.. wait for the API, create segment "seg1" and the hosts
  masakari_env.py api DIR METHOD PATH [JSON]   one API call (tests read notifications with it)

Everything is logged under DIR. Run with Debian's /usr/bin/python3 (python3-masakari).
"""
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MASAKARI_URL = "http://127.0.0.1:15868/v1"
# Fixed so tests can compare what the agent authenticated with.
STUB_PROJECT_ID = "5e1b3c3bb0e94e4e8f7a1c2d3e4f5a6b"
STUB_PASSWORD_FILE = "stub-password"


def run_masakari(state_dir):
    # Eventlet monkey-patching must happen before anything else imports threading.
    import masakari.cmd  # noqa: F401
    from masakari import context

    # Debian 12's masakari 14.0.2 with the oslo.messaging security update passes
    # read_deleted=None through the notifier; upstream fixed this in 636df88. Map None to
    # the default so segment and host calls do not fail with 500.
    original_setter = context.RequestContext._set_read_deleted

    def tolerant_setter(self, value):
        original_setter(self, "no" if value is None else value)

    context.RequestContext.read_deleted = property(
        context.RequestContext._get_read_deleted, tolerant_setter,
        context.RequestContext._del_read_deleted)

    from oslo_log import log as logging
    from oslo_service import service as oslo_service

    import masakari.conf
    from masakari import config, objects, service

    conf = masakari.conf.CONF
    config.parse_args([sys.argv[0], "--config-file", os.path.join(state_dir, "masakari.conf")])
    logging.setup(conf, "masakari")
    objects.register_all()
    launcher = oslo_service.ServiceLauncher(conf)
    launcher.launch_service(service.WSGIService("masakari_api"))
    launcher.launch_service(
        service.Service.create(binary="masakari-engine", topic=conf.masakari_topic))
    launcher.wait()


class Stub:
    """What the stub remembers: nova's idea of each server, and every call made to it."""

    def __init__(self, state_dir, port):
        self.state_dir = state_dir
        self.base = "http://127.0.0.1:%d" % port
        self.lock = threading.Lock()
        self.vm_state = {}
        self.service_status = {}
        self.tokens = 0

    def record(self, name, line):
        with self.lock:
            with open(os.path.join(self.state_dir, name), "a") as f:
                f.write(line + "\n")

    def password(self):
        try:
            with open(os.path.join(self.state_dir, STUB_PASSWORD_FILE)) as f:
                return f.read().strip()
        except OSError:
            return None

    def virsh(self, *args):
        env = dict(os.environ, LC_ALL="C")
        return subprocess.run(["virsh", "-c", "qemu:///system", *args], env=env,
                              capture_output=True, text=True)

    def catalog(self):
        def endpoints(url):
            return [{"id": "%s-%s" % (iface, url[-6:]), "interface": iface, "region": "RegionOne",
                     "region_id": "RegionOne", "url": url}
                    for iface in ("public", "internal", "admin")]
        return [
            {"id": "nova", "type": "compute", "name": "nova",
             "endpoints": endpoints(self.base + "/v2.1")},
            # Without the /<project_id> suffix real catalogs carry: under noauth2 the request
            # context has no project, and Masakari refuses a URL naming one.
            {"id": "masakari", "type": "instance-ha", "name": "masakari",
             "endpoints": endpoints(MASAKARI_URL)},
        ]


def make_handler(stub):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *args):
            stub.record("stub.log", "%s %s" % (time.strftime("%H:%M:%S"), fmt % args))

        def body(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                return json.loads(raw) if raw else None
            except ValueError:
                return None

        def reply(self, code, doc, headers=None):
            data = json.dumps(doc).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def server_doc(self, uuid):
            state = stub.vm_state.get(uuid, "active")
            return {"server": {
                "id": uuid, "name": uuid, "status": "ACTIVE" if state == "active" else "SHUTOFF",
                "OS-EXT-STS:vm_state": state, "OS-EXT-SRV-ATTR:host": "node1",
                "metadata": {"HA_Enabled": "True"}, "locked": False,
                "links": [], "tenant_id": STUB_PROJECT_ID, "user_id": "stub"}}

        def service_doc(self, host):
            status = stub.service_status.get(host, "enabled")
            return {"id": "svc-" + host, "binary": "nova-compute", "host": host, "zone": "nova",
                    "status": status, "state": "up", "forced_down": False,
                    "updated_at": "2026-01-01T00:00:00.000000", "disabled_reason": None}

        def do_GET(self):
            path, _, query = self.path.partition("?")
            parts = [p for p in path.split("/") if p]
            if parts in ([], ["v3"]):
                self.reply(200, {"version": {
                    "id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
                    "links": [{"rel": "self", "href": stub.base + "/v3/"}],
                    "media-types": [{"base": "application/json",
                                     "type": "application/vnd.openstack.identity-v3+json"}]}})
            elif parts[:2] == ["v2.1", "servers"] and len(parts) == 3 and parts[2] != "detail":
                self.reply(200, self.server_doc(parts[2]))
            elif parts[:2] == ["v2.1", "servers"]:
                self.reply(200, {"servers": []})
            elif parts[:2] == ["v2.1", "os-services"]:
                params = dict(p.split("=", 1) for p in query.split("&") if "=" in p)
                host = params.get("host", "node1")
                self.reply(200, {"services": [self.service_doc(host)]})
            elif parts[:2] == ["v2.1", "os-aggregates"]:
                self.reply(200, {"aggregates": []})
            else:
                self.reply(404, {"error": "stub has no " + path})

        def do_POST(self):
            parts = [p for p in self.path.split("?")[0].split("/") if p]
            doc = self.body() or {}
            if parts == ["v3", "auth", "tokens"]:
                identity = doc.get("auth", {}).get("identity", {})
                user = identity.get("password", {}).get("user", {})
                expected = stub.password()
                if expected is not None and user.get("name") != "masakari" \
                        and user.get("password") != expected:
                    stub.record("auth.log", "refused %s" % user.get("name"))
                    self.reply(401, {"error": {"code": 401, "message": "bad credentials"}})
                    return
                stub.record("auth.log", "token %s" % user.get("name"))
                with stub.lock:
                    stub.tokens += 1
                    token = "stub-token-%d" % stub.tokens
                now = time.gmtime()
                self.reply(201, {"token": {
                    "methods": ["password"],
                    "issued_at": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", now),
                    "expires_at": time.strftime("%Y-%m-%dT%H:%M:%S.000000Z",
                                                time.gmtime(time.time() + 3600)),
                    "user": {"id": "stub-user", "name": user.get("name", "x"),
                             "domain": {"id": "default", "name": "Default"}},
                    "project": {"id": STUB_PROJECT_ID, "name": "services",
                                "domain": {"id": "default", "name": "Default"}},
                    "roles": [{"id": "admin", "name": "admin"}],
                    "catalog": stub.catalog()}}, {"X-Subject-Token": token})
            elif parts[:2] == ["v2.1", "servers"] and len(parts) == 4 and parts[3] == "action":
                uuid = parts[2]
                if "os-stop" in doc:
                    stub.record("nova-actions.log", "stop %s" % uuid)
                    stub.virsh("destroy", uuid)
                    stub.vm_state[uuid] = "stopped"
                elif "os-start" in doc:
                    stub.record("nova-actions.log", "start %s" % uuid)
                    result = stub.virsh("start", uuid)
                    if result.returncode != 0:
                        stub.record("stub.log", "virsh start failed: " + result.stderr.strip())
                    stub.vm_state[uuid] = "active"
                else:
                    stub.record("nova-actions.log", "action %s %s" % (uuid, list(doc)))
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()
            else:
                self.reply(404, {"error": "stub has no POST " + self.path})

        def do_PUT(self):
            parts = [p for p in self.path.split("?")[0].split("/") if p]
            doc = self.body() or {}
            if parts[:2] == ["v2.1", "os-services"] and len(parts) == 3:
                host = parts[2][len("svc-"):]
                stub.service_status[host] = doc.get("status", "enabled")
                stub.record("nova-actions.log", "service %s %s" % (host, stub.service_status[host]))
                self.reply(200, {"service": self.service_doc(host)})
            else:
                self.reply(404, {"error": "stub has no PUT " + self.path})

    return Handler


def run_stub(state_dir, port):
    stub = Stub(state_dir, port)
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(stub))
    server.daemon_threads = True
    server.serve_forever()


def api(method, path, doc=None):
    data = json.dumps(doc).encode() if doc is not None else None
    req = urllib.request.Request(MASAKARI_URL + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


def setup(hosts):
    deadline = time.time() + 60
    while True:
        try:
            segments = api("GET", "/segments")["segments"]
            break
        except (urllib.error.URLError, ConnectionError, OSError):
            if time.time() > deadline:
                raise SystemExit("masakari-api did not answer within 60s")
            time.sleep(0.2)
    seg = next((s for s in segments if s["name"] == "seg1"), None)
    if seg is None:
        seg = api("POST", "/segments", {"segment": {
            "name": "seg1", "recovery_method": "auto", "service_type": "COMPUTE"}})["segment"]
    existing = {h["name"] for h in api("GET", "/segments/%s/hosts" % seg["uuid"])["hosts"]}
    for host in hosts:
        if host not in existing:
            api("POST", "/segments/%s/hosts" % seg["uuid"], {"host": {
                "name": host, "type": "COMPUTE", "control_attributes": "SSH"}})
    print(seg["uuid"])


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    command, state_dir = sys.argv[1], sys.argv[2]
    if command == "masakari":
        run_masakari(state_dir)
    elif command == "stub":
        run_stub(state_dir, int(sys.argv[3]))
    elif command == "api":
        method, path = sys.argv[3], sys.argv[4]
        doc = json.loads(sys.argv[5]) if len(sys.argv) > 5 else None
        try:
            print(json.dumps(api(method, path, doc)))
        except urllib.error.HTTPError as e:
            print(json.dumps({"http_error": e.code, "body": e.read().decode(errors="replace")}))
            sys.exit(1)
    elif command == "setup":
        setup(sys.argv[3:])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
