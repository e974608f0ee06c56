"""neutron-api under uwsgi, as Debian's /usr/bin/neutron-api, with the ORM mappers complete.

Neutron's port listing reads `Port.port_forwardings`, a backref that only exists once the
port-forwarding model is imported and SQLAlchemy has configured the mappers. neutron-server gets
there while its RPC workers start; an API-only uwsgi worker whose first request lists ports does
not, and answers 500 ("type object 'Port' has no attribute 'port_forwardings'") to every such
request, which fails nova's server create, show, start and evacuate. This file builds the same
application, then imports every model and configures the mappers, before serving.
"""
from neutron.cmd.eventlet.server import main_api_eventlet
from neutron.db.migration.models import head  # noqa: F401  (every model, port forwarding included)
from sqlalchemy import orm

application = main_api_eventlet()
orm.configure_mappers()
