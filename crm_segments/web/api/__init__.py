"""The JSON API under /api/v1: the host CRM pushes profiles and their records here.

Every endpoint is listed once in ``ROUTES``; the blueprint's URL rules and the OpenAPI description
(GET /api/v1/openapi.json) are both made from that list.
"""

from __future__ import annotations

from flask import Blueprint

from crm_segments.records import KINDS

from .auth import require_api_key
from .channels import channel_routes
from .consent import consent_routes
from .errors import register_error_handlers
from .messages import message_routes
from .openapi import openapi_route
from .personal_data import personal_data_routes
from .resources import resource_routes
from .routes import Route, register_routes
from .segments import segment_routes
from .tags import tag_routes
from .workflows import workflow_routes

ROUTES: list[Route] = [route for kind in KINDS.values() for route in resource_routes(kind)]
ROUTES += personal_data_routes()
ROUTES += consent_routes()
ROUTES += workflow_routes()
ROUTES += tag_routes()
ROUTES += segment_routes()
ROUTES += message_routes()
ROUTES += channel_routes()
ROUTES.append(openapi_route(ROUTES))
ROUTES_BY_ENDPOINT = {route.endpoint: route for route in ROUTES}

bp = Blueprint("crm_api", __name__)
bp.before_request(require_api_key)
register_error_handlers(bp)
register_routes(bp, ROUTES)
