#!/usr/bin/python3
"""The pieces of the Masakari test environment that have to be Python.

  masakari_env.py masakari DIR     the real Masakari API and engine in one process
                                   (fake:// transport only delivers inside one process)
  masakari_env.py keystone-setup DIR   in the running keystone: project "services", user
                                   "oxha" (member) and the instance-ha service whose endpoints
                                   are this Masakari (openstacksdk, one process)
  masakari_env.py admin-password   keystone's bootstrap admin password
  masakari_env.py setup DIR HOST.. wait for the API, create segment "seg1" (API) and its
                                   hosts (Masakari's object layer: the API would ask nova)
  masakari_env.py api DIR METHOD PATH [JSON]   one API call (tests read notifications with it)

Everything is logged under DIR. Run with Debian's /usr/bin/python3 (python3-masakari).
There is no nova: Masakari's engine fails its recovery flows at their first nova call.
"""
import json
import os
import sys
import time
import urllib.error
import urllib.request

MASAKARI_URL = "http://127.0.0.1:15868/v1"
KEYSTONE_URL = "http://127.0.0.1:15869/v3"
# Test constants, the same in src/lib.rs (the agents' credentials).
ADMIN_PASSWORD = "oxha-admin"
PROJECT = "services"
USER = "oxha"
PASSWORD = "k3ystone-S3cret"


def tolerate_read_deleted_none():
    """Debian 12's masakari 14.0.2 with the oslo.messaging security update passes
    read_deleted=None through the notifier; upstream fixed this in 636df88. Map None to the
    default so segment and host calls do not fail with 500."""
    from masakari import context

    original_setter = context.RequestContext._set_read_deleted

    def tolerant_setter(self, value):
        original_setter(self, "no" if value is None else value)

    context.RequestContext.read_deleted = property(
        context.RequestContext._get_read_deleted, tolerant_setter,
        context.RequestContext._del_read_deleted)


def run_masakari(state_dir):
    # Eventlet monkey-patching must happen before anything else imports threading.
    import masakari.cmd  # noqa: F401

    tolerate_read_deleted_none()

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


def api(method, path, doc=None):
    data = json.dumps(doc).encode() if doc is not None else None
    req = urllib.request.Request(MASAKARI_URL + path, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read() or b"null")


def add_hosts(state_dir, segment_uuid, hosts):
    """Masakari's API adds a host to a segment only once nova lists a nova-compute service of
    that name, and there is no nova here: the hosts are written with Masakari's own object
    layer, as its API would write them. Everything else goes through the API."""
    tolerate_read_deleted_none()
    from masakari import config, context, objects

    config.parse_args([sys.argv[0], "--config-file", os.path.join(state_dir, "masakari.conf")])
    objects.register_all()
    ctx = context.get_admin_context()
    segment = objects.FailoverSegment.get_by_uuid(ctx, segment_uuid)
    for name in hosts:
        host = objects.Host(context=ctx)
        host.name = name
        host.failover_segment = segment
        host.type = "COMPUTE"
        host.control_attributes = "SSH"
        host.on_maintenance = False
        host.reserved = False
        host.create()


def setup(state_dir, hosts):
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
    add_hosts(state_dir, seg["uuid"], [h for h in hosts if h not in existing])
    listed = {h["name"] for h in api("GET", "/segments/%s/hosts" % seg["uuid"])["hosts"]}
    if not set(hosts) <= listed:
        raise SystemExit("Masakari lists hosts %s, not %s" % (sorted(listed), hosts))
    print(seg["uuid"])


def keystone_setup():
    import openstack

    conn = openstack.connect(
        auth_url=KEYSTONE_URL, username="admin", password=ADMIN_PASSWORD, project_name="admin",
        user_domain_name="Default", project_domain_name="Default", region_name="RegionOne",
        identity_api_version="3")
    ident = conn.identity
    project = ident.find_project(PROJECT) or ident.create_project(
        name=PROJECT, domain_id="default")
    user = ident.find_user(USER) or ident.create_user(
        name=USER, domain_id="default", password=PASSWORD, default_project_id=project.id)
    role = ident.find_role("member")
    ident.assign_project_role_to_user(project, user, role)
    # Without the /<project_id> suffix real catalogs carry: under noauth2 the request context
    # has no project, and Masakari refuses a URL naming one.
    service = ident.find_service("masakari") or ident.create_service(
        name="masakari", type="instance-ha")
    for interface in ("public", "internal", "admin"):
        ident.create_endpoint(service_id=service.id, interface=interface, url=MASAKARI_URL,
                              region_id="RegionOne")
    print("keystone: user %s in %s, instance-ha at %s" % (USER, PROJECT, MASAKARI_URL))


def main():
    if sys.argv[1:] == ["admin-password"]:
        print(ADMIN_PASSWORD)
        return
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    command, state_dir = sys.argv[1], sys.argv[2]
    if command == "masakari":
        run_masakari(state_dir)
    elif command == "keystone-setup":
        keystone_setup()
    elif command == "api":
        method, path = sys.argv[3], sys.argv[4]
        doc = json.loads(sys.argv[5]) if len(sys.argv) > 5 else None
        try:
            print(json.dumps(api(method, path, doc)))
        except urllib.error.HTTPError as e:
            print(json.dumps({"http_error": e.code, "body": e.read().decode(errors="replace")}))
            sys.exit(1)
    elif command == "setup":
        setup(state_dir, sys.argv[3:])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
