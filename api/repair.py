"""Repair routes (contract §3 and §7): start a scan, list jobs, process one (or dry-run it)."""

from __future__ import annotations

from typing import Any

import bottle

from api.auth import read_json
from api.responses import ApiError, json_body
from api.web import api_errors
from gateway.repair.service import RepairError, RepairService

TRUE = ("1", "true", "yes", "on")


def _body() -> dict[str, Any]:
    request = bottle.request
    if not (request.content_length or 0):
        return {}
    return read_json(request)


def _scan_request(body: dict[str, Any]) -> tuple[str, tuple[int, ...], bool | None]:
    arr = body.get("arr", "")
    if not isinstance(arr, str):
        raise ApiError(400, "arr must be the name of an arrs[] entry")
    ids = body.get("media_ids", [])
    if not isinstance(ids, list) or not all(isinstance(i, int) and not isinstance(i, bool) and i > 0 for i in ids):
        raise ApiError(400, "media_ids must be a list of positive whole numbers")
    auto = body.get("auto_process")
    if auto is not None and not isinstance(auto, bool):
        raise ApiError(400, "auto_process must be true or false")
    return arr, tuple(ids), auto


def make_repair_app(service: RepairService) -> bottle.Bottle:
    app = bottle.Bottle()

    def refused(exc: RepairError) -> ApiError:
        return ApiError(exc.status, str(exc))

    def start() -> Any:
        arr, ids, auto = _scan_request(_body())
        try:
            job = service.start_scan(arr, ids, auto)
        except RepairError as exc:
            raise refused(exc) from None
        return json_body({"job_id": job.id, "status": job.status.value}, 202)

    def jobs() -> Any:
        return json_body([job.public() for job in service.jobs()])

    def process(job_id: str) -> Any:
        body = _body()
        dry = body.get("dry_run", False) is True or str(bottle.request.query.get("dry_run", "")).lower() in TRUE
        try:
            answer = service.process(job_id, dry_run=dry)
        except RepairError as exc:
            raise refused(exc) from None
        return json_body(answer, 200 if dry else 202)

    app.route("/api/repair", "POST", api_errors(start))
    app.route("/api/repair/jobs", "GET", api_errors(jobs))
    app.route("/api/repair/jobs/<job_id>/process", "POST", api_errors(process))
    return app
