"""Status codes and the Error body shape {error, error_description, url}."""

from __future__ import annotations

import httpx
import pytest

from sandbox import Sandbox


def _assert_error(response: httpx.Response, status: int, error: str | None = None) -> dict:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error", "error_description", "url"}
    assert isinstance(body["error"], str) and isinstance(body["error_description"], str)
    assert body["url"] is None or body["url"].startswith("https://")
    if error is not None:
        assert body["error"] == error
    return body


def test_token_missing_or_wrong_is_401(shared_sandbox: Sandbox) -> None:
    with httpx.Client(base_url=shared_sandbox.base_url, trust_env=False) as anon:
        _assert_error(anon.get("/meters"), 401)
        _assert_error(anon.get("/meters", headers={"Authorization": "Bearer nope"}), 401)
        _assert_error(anon.get("/meters", params={"access_token": "nope"}), 401)
        assert anon.get("/meters", params={"access_token": shared_sandbox.token}).status_code == 200
        ok = anon.get("/meters", headers={"Authorization": f"Bearer {shared_sandbox.token}"})
        assert ok.status_code == 200


@pytest.mark.parametrize("path", ["/bills", "/intervals"])
def test_data_lists_need_meters_or_authorizations(shared_client: httpx.Client, path: str) -> None:
    _assert_error(shared_client.get(path), 400, "required_param_missing")
    _assert_error(shared_client.get(path, params={"meters": ""}), 400, "required_param_missing")


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/intervals", {"start": "2026-01-01 00:00:00+00:00"}),  # space instead of T
        ("/intervals", {"start": "2026-01-01T00:00:00"}),  # no offset
        ("/bills", {"end": "2026-13-01"}),
        ("/bills", {"start": "01/02/2026"}),
        ("/bills", {"order": "newest"}),
        ("/intervals", {"allow_mixed": "yes"}),
        ("/intervals", {"limit": "0"}),
        ("/intervals", {"limit": "-5"}),
        ("/bills", {"limit": "ten"}),
    ],
)
def test_bad_data_list_params_are_invalid(
    shared_client: httpx.Client, path: str, params: dict[str, str]
) -> None:
    meter = shared_client.get("/meters").json()["meters"][0]["uid"]
    body = _assert_error(
        shared_client.get(path, params={"meters": meter, **params}), 400, "invalid_param"
    )
    assert next(iter(params)) in body["error_description"]


@pytest.mark.parametrize(
    ("path", "params"),
    [
        ("/meters", {"is_archived": "1"}),
        ("/meters", {"is_activated": "True"}),
        ("/authorizations", {"is_test": "maybe"}),
        ("/authorizations", {"include": "bills"}),
        ("/events", {"is_delivered": "no"}),
        ("/meters", {"limit": "1.5"}),
    ],
)
def test_bad_list_params_are_invalid(
    shared_client: httpx.Client, path: str, params: dict[str, str]
) -> None:
    _assert_error(shared_client.get(path, params=params), 400, "invalid_param")


def test_unknown_objects_are_404(shared_client: httpx.Client) -> None:
    for path in (
        "/authorizations/999",
        "/meters/999",
        "/events/nope",
        "/forms/nope",
        "/templates/nope",
        "/nothing-here",
    ):
        _assert_error(shared_client.get(path), 404)
    _assert_error(shared_client.patch("/meters/999", json={"is_archived": True}), 404)
    _assert_error(shared_client.post("/authorizations/999/revoke"), 404)


def test_bodies_must_be_json_objects(shared_client: httpx.Client) -> None:
    meter = shared_client.get("/meters").json()["meters"][0]["uid"]
    _assert_error(shared_client.patch(f"/meters/{meter}", content=b"[1]"), 400, "invalid_param")
    _assert_error(shared_client.patch(f"/meters/{meter}", content=b"{"), 400, "invalid_param")
    _assert_error(
        shared_client.patch(f"/meters/{meter}", json={"is_archived": "yes"}), 400, "invalid_param"
    )


def test_collection_body_errors(shared_client: httpx.Client) -> None:
    meter = shared_client.get("/meters").json()["meters"][0]["uid"]
    post = shared_client.post
    _assert_error(post("/meters/historical-collection", json={}), 400, "required_param_missing")
    _assert_error(
        post("/meters/historical-collection", json={"meters": []}), 400, "required_param_missing"
    )
    for duration in (0, 37, True, "12", 1.5):
        _assert_error(
            post(
                "/meters/historical-collection",
                json={"meters": [meter], "collection_duration": duration},
            ),
            400,
            "invalid_param",
        )
    _assert_error(
        post("/meters/historical-collection", json={"meters": ["nope"]}), 400, "invalid_param"
    )
    _assert_error(
        post("/meters/ongoing-monitoring", json={"meters": [meter]}), 400, "required_param_missing"
    )
    _assert_error(
        post("/meters/ongoing-monitoring", json={"meters": [meter], "frequency": "hourly"}),
        400,
        "invalid_param",
    )
    _assert_error(
        post(
            "/meters/ongoing-monitoring",
            json={"meters": [meter], "frequency": "daily", "fixed_refresh_day": 3},
        ),
        400,
        "invalid_param",
    )
    _assert_error(
        post(
            "/meters/ongoing-monitoring",
            json={"meters": [meter], "frequency": "monthly", "fixed_refresh_day": 32},
        ),
        400,
        "invalid_param",
    )


def test_unfunded_collections_are_402(sandbox: Sandbox, client: httpx.Client) -> None:
    meter = next(m for m in sandbox.truth.meters() if not m["is_activated"])["uid"]
    sandbox.set_funded(False)
    _assert_error(client.post("/meters/historical-collection", json={"meters": [meter]}), 402)
    _assert_error(
        client.post("/meters/ongoing-monitoring", json={"meters": [meter], "frequency": "daily"}),
        402,
    )
    # Stopping monitoring costs nothing.
    stop = client.post("/meters/ongoing-monitoring", json={"meters": [meter], "frequency": "off"})
    assert stop.status_code == 200
    sandbox.set_funded(True)
    ok = client.post("/meters/historical-collection", json={"meters": [meter]})
    assert ok.status_code == 200


def test_deleting_a_real_authorization_is_403(sandbox: Sandbox, client: httpx.Client) -> None:
    real = next(
        a for a in sandbox.truth.authorizations() if not a["is_test"] and a["utility"] != "DEMO"
    )
    _assert_error(client.delete(f"/authorizations/{real['uid']}"), 403)
    assert client.get(f"/authorizations/{real['uid']}").status_code == 200


def test_all_meters_revoked_or_expired_is_expired_or_revoked(
    sandbox: Sandbox, client: httpx.Client
) -> None:
    auths = [
        a
        for a in sandbox.truth.authorizations()
        if not a["is_revoked"] and not a["is_expired"] and a["exports"]
    ]
    revoked, expired, alive = auths[0], auths[1], auths[2]
    meters = {
        a["uid"]: [m["uid"] for m in sandbox.truth.meters() if m["authorization_uid"] == a["uid"]]
        for a in auths[:3]
    }
    assert client.post(f"/authorizations/{revoked['uid']}/revoke").status_code == 200
    sandbox.expire(expired["uid"])
    dead = meters[revoked["uid"]] + meters[expired["uid"]]
    _assert_error(
        client.post("/meters/historical-collection", json={"meters": dead}),
        400,
        "expired_or_revoked",
    )
    _assert_error(
        client.post("/meters/ongoing-monitoring", json={"meters": dead, "frequency": "daily"}),
        400,
        "expired_or_revoked",
    )
    # Mixed: the dead meters are dropped silently, the live one is accepted.
    mixed = client.post(
        "/meters/historical-collection", json={"meters": dead + meters[alive["uid"]][:1]}
    )
    assert mixed.status_code == 200
    assert mixed.json()["meters"] == meters[alive["uid"]][:1]


def test_wrong_method_is_405(shared_client: httpx.Client) -> None:
    assert shared_client.put("/meters").status_code == 405
