"""Who may call an API route is declared on its ``Route`` (``roles``) and enforced by the blueprint's one
guard; no handler checks a role by hand, except the two refusals that depend on the request's data."""

from __future__ import annotations

import re
from pathlib import Path

from crm_segments.web import api as api_package
from crm_segments.web.api import api_routes
from crm_segments.web.api.routes import ADMIN_ONLY, Route

from .conftest import Api

_PARAM = re.compile(r"<(?:\w+:)?(\w+)>")
_SAMPLE = {"channel": "email", "key": "no-such-template", "external_id": "NO-SUCH"}


def _path(route: Route) -> str:
    return _PARAM.sub(lambda m: _SAMPLE.get(m.group(1), "999999"), route.rule)


def test_every_admin_only_route_refuses_a_sales_key_before_reading_anything(sales_api: Api) -> None:
    admin_only = [route for route in api_routes() if route.roles == ADMIN_ONLY]
    assert len(admin_only) >= 30  # records, segments, tags, rules, workflows, templates, channels...
    for route in admin_only:
        answer = sales_api.open(_path(route), method=route.method, data=b"not json")
        assert answer.status_code == 403, (route.method, route.rule, answer.status_code)
        error = answer.json["error"]
        assert error["code"] == "forbidden"
        assert "needs the API key of an admin" in error["message"], error


def test_every_other_route_lets_a_sales_key_past_the_guard(sales_api: Api) -> None:
    for route in api_routes():
        if route.roles == ADMIN_ONLY or route.public:
            continue
        assert set(route.roles) == {"admin", "sales"}, route.endpoint
        answer = sales_api.open(_path(route), method=route.method, json={})
        # 404 for the ids that name nothing, 400/422 for the empty body; never a refusal of the key.
        assert answer.status_code not in (401, 403), (route.method, route.rule, answer.json)


# The refusals that depend on the body or the row, not on the route.
_DATA_DEPENDENT = {"segments.py": 1, "tags.py": 1}


def test_no_handler_checks_a_role_by_hand() -> None:
    folder = Path(api_package.__file__).parent
    for module in sorted(folder.glob("*.py")):
        if module.name in ("auth.py", "errors.py"):  # the guard; the answer to a service's Forbidden
            continue
        text = module.read_text()
        assert not re.search(r"\.role\b", text), module.name
        assert "error_response(403" not in text, module.name
        assert text.count("forbidden_unless_admin_for(") == _DATA_DEPENDENT.get(module.name, 0), module.name
