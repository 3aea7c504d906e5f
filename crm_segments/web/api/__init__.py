"""The JSON API under /api/v1: the host CRM pushes profiles and their records here.

Every endpoint is listed once in ``api_routes()``; the blueprint's URL rules and the OpenAPI description
(GET /api/v1/openapi.json) are both made from that list.
"""

from __future__ import annotations

from flask import Blueprint

from crm_segments.records import KINDS

from .auth import api_key_guard
from .channels import channel_routes
from .consent import consent_routes
from .errors import register_error_handlers
from .messages import message_routes
from .openapi import openapi_route
from .personal_data import personal_data_routes
from .resources import resource_routes
from .routes import Route, register_routes
from .saved_views import saved_view_routes
from .segments import segment_routes
from .tags import tag_routes
from .workflows import workflow_routes


def api_routes() -> list[Route]:
    """Every endpoint: the record types' from the registry as it is now, then the rest."""
    routes = [route for kind in KINDS.values() for route in resource_routes(kind)]
    routes += personal_data_routes()
    routes += consent_routes()
    routes += workflow_routes()
    routes += tag_routes()
    routes += segment_routes()
    routes += message_routes()
    routes += channel_routes()
    routes += saved_view_routes()
    routes.append(openapi_route(routes))
    return routes


def api_blueprint() -> Blueprint:
    """The API of one app, made when the app is: a record type registered before then has its endpoints
    and its place in the OpenAPI description."""
    routes = api_routes()
    bp = Blueprint("crm_api", __name__)
    bp.before_request(api_key_guard({route.endpoint: route for route in routes}))
    register_error_handlers(bp)
    register_routes(bp, routes)
    return bp
