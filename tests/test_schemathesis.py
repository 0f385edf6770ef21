"""Property-based requests generated from /openapi.json: whatever arrives, the API never answers 5xx."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import positive_data_acceptance

from app.main import create_app
from app.settings import Settings, get_settings

# Small limits keep each generated request cheap; the checks are about answers, not sizes.
SMALL = Settings(warm_on_startup=False, max_steps=500, max_runs=4, max_sweep_cells=64, max_sweep_steps=100,
                 max_grid_resolution=40, max_compute_seconds=5)

app = create_app()
app.dependency_overrides[get_settings] = lambda: SMALL
# The export routes belong to their own suite: rendering files is not what this one is about.
schema = schemathesis.openapi.from_asgi("/openapi.json", app).exclude(path_regex="^/api/exports")


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_request_gets_a_server_error(case):
    # Ranges live in the registry and depend on the optimizer and surface, so the schema cannot say
    # which numbers are valid: a schema-valid request may still, rightly, get a 422.
    case.call_and_validate(excluded_checks=[positive_data_acceptance])
