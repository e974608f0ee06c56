#!/usr/bin/python3
"""The one-time set-up of the test cloud, through openstacksdk (one process, not ~40 CLI calls).

  bootstrap.py identity ADDR        project "service", the service users (admin role), the
                                    services and their public/internal/admin endpoints on ADDR
  bootstrap.py resources ADDR IMG   the image "tiny" (a 1 MiB raw disk whose boot sector halts,
                                    written to IMG) and the flavor "m1.tiny"

Run after `keystone-manage bootstrap` (which made the admin user, project and roles). The
results are cached with the databases, so this runs once per cache key.
"""
import sys

import openstack

ADMIN_PASSWORD = "oxha-admin"
REGION = "RegionOne"
SERVICE_USERS = ["nova", "placement", "glance", "neutron", "masakari"]


def connect(addr):
    return openstack.connect(
        auth_url="http://%s:5000/v3" % addr, username="admin", password=ADMIN_PASSWORD,
        project_name="admin", user_domain_name="Default", project_domain_name="Default",
        region_name=REGION, identity_api_version="3")


def identity(addr):
    conn = connect(addr)
    ident = conn.identity
    project = ident.find_project("service") or ident.create_project(
        name="service", domain_id="default", description="OpenStack services")
    admin_role = ident.find_role("admin")
    for name in SERVICE_USERS:
        user = ident.find_user(name) or ident.create_user(
            name=name, domain_id="default", password="oxha-" + name,
            default_project_id=project.id)
        ident.assign_project_role_to_user(project, user, admin_role)
        print("user", name)
    services = [
        ("nova", "compute", "http://%s:8774/v2.1" % addr),
        ("placement", "placement", "http://%s:8778" % addr),
        ("glance", "image", "http://%s:9292" % addr),
        ("neutron", "network", "http://%s:9696" % addr),
        ("masakari", "instance-ha", "http://%s:15868/v1/%%(tenant_id)s" % addr),
    ]
    for name, kind, url in services:
        service = ident.find_service(name) or ident.create_service(
            name=name, type=kind, description=name)
        existing = {e.interface for e in ident.endpoints(service_id=service.id)}
        for interface in ("public", "internal", "admin"):
            if interface not in existing:
                ident.create_endpoint(service_id=service.id, interface=interface, url=url,
                                      region_id=REGION)
        print("service", name, kind, url)


def boot_sector_disk(path):
    """1 MiB raw disk: a boot sector that disables interrupts and halts forever."""
    sector = bytearray(512)
    sector[0:4] = b"\xfa\xf4\xeb\xfd"  # cli; hlt; jmp back to hlt
    sector[510:512] = b"\x55\xaa"
    with open(path, "wb") as f:
        f.write(bytes(sector))
        f.write(bytes(1024 * 1024 - 512))


def resources(addr, image_path):
    conn = connect(addr)
    if not conn.image.find_image("tiny"):
        boot_sector_disk(image_path)
        conn.image.create_image(name="tiny", filename=image_path, disk_format="raw",
                                container_format="bare", visibility="public",
                                allow_duplicates=True, validate_checksum=False)
        print("image tiny")
    if not conn.compute.find_flavor("m1.tiny"):
        conn.compute.create_flavor(name="m1.tiny", ram=64, vcpus=1, disk=1, is_public=True)
        print("flavor m1.tiny")


def main():
    if len(sys.argv) < 3:
        raise SystemExit(__doc__)
    if sys.argv[1] == "identity":
        identity(sys.argv[2])
    elif sys.argv[1] == "resources" and len(sys.argv) == 4:
        resources(sys.argv[2], sys.argv[3])
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
