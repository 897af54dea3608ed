"""The site plan: an image the map draws under the factories (optional).

``PUT /api/v1/sites/{site}/plan?width_m=..&height_m=..`` takes the image itself as the
body (``Content-Type: image/png`` or ``image/jpeg``; the bytes must start as that type does;
at most ``api.max_plan_image_bytes``) and the ground size it covers in metres, so that plan
coordinates (metres from its top-left corner, ``x`` east, ``y`` south) fall on its pixels.
Unscoped admin keys only (a plan covers every factory of the site). ``GET`` returns the
image to any key that may see the site.
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, Field
from starlette.responses import Response

from controlcenter.api._http import query_timeout
from controlcenter.api.deps import ERRORS, Admin, Viewer, narrow, problems
from controlcenter.api.positions import PLAN_MAX_M, SitePath
from controlcenter.api.state import State
from controlcenter.store.positions import plan_image, set_plan_image

__all__ = ["PLAN_PATH", "PlanOut", "image_type", "router"]

router = APIRouter(prefix="/api/v1", tags=["map"], responses=ERRORS)
#: The upload's path, as a regex (its body limit is api.max_plan_image_bytes).
PLAN_PATH: Final = r"/api/v1/sites/[^/]+/plan"
_MAGIC: Final = {"image/png": b"\x89PNG\r\n\x1a\n", "image/jpeg": b"\xff\xd8\xff"}
_BODY: Final = {
    "required": True,
    "content": {t: {"schema": {"type": "string", "format": "binary"}} for t in _MAGIC},
}
Metres = Annotated[float, Query(gt=0, le=PLAN_MAX_M, allow_inf_nan=False)]


class PlanOut(BaseModel):
    """The stored plan's metadata."""

    site: str = Field(examples=["namdong-1"])
    content_type: str = Field(examples=["image/png"])
    width_m: float = Field(examples=[1400.0])
    height_m: float = Field(examples=[1000.0])
    bytes: int = Field(examples=[182_044])


def image_type(declared: str, data: bytes) -> str:
    """The image's media type: 415 unless PNG or JPEG is declared, 422 unless the bytes
    start as the declared type does.

    >>> image_type("image/png; charset=binary", b"\\x89PNG\\r\\n\\x1a\\n...")
    'image/png'
    """
    media = declared.split(";", 1)[0].strip().lower()
    if media not in _MAGIC:
        raise HTTPException(415, "a site plan is image/png or image/jpeg")
    if not data.startswith(_MAGIC[media]):
        raise HTTPException(422, f"the body is not a {media} image")
    return media


@router.put(
    "/sites/{site}/plan",
    response_model=PlanOut,
    responses=problems(401, 403, 404, 413, 415, 422, 503, 504)
    | {415: {"description": "the body is neither PNG nor JPEG"}},
    openapi_extra={"requestBody": _BODY},
    summary="Upload a site plan image",
)
async def put_plan(
    state: State, who: Admin, site: SitePath, request: Request, width_m: Metres, height_m: Metres
) -> dict[str, Any]:
    """Store (replace) the site's plan image with the ground size it covers (admin)."""
    if who.factory is not None:
        raise HTTPException(status.HTTP_403_FORBIDDEN, "a site plan needs an unscoped key")
    data = await request.body()
    limit = state.api.max_plan_image_bytes
    if len(data) > limit:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, f"a plan over {limit} bytes")
    media = image_type(request.headers.get("content-type", ""), data)
    async with query_timeout(state):
        info = await set_plan_image(state.pool, site, data, media, width_m, height_m)
    if info is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no site {site}")
    return {"site": site, "content_type": media, "width_m": info.width_m,
            "height_m": info.height_m, "bytes": len(data)}  # fmt: skip


@router.get(
    "/sites/{site}/plan",
    responses=problems(401, 403, 404, 503, 504)
    | {200: {"content": {t: {} for t in _MAGIC}, "description": "the plan image"}},
    response_class=Response,
    summary="The site plan image",
)
async def get_plan(state: State, who: Viewer, site: SitePath) -> Response:
    """The site's plan image (404 when none was uploaded)."""
    narrow(who, site)
    async with query_timeout(state):
        plan = await plan_image(state.pool, site)
    if plan is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no plan for site {site}")
    return Response(
        plan.image,
        media_type=plan.info.content_type,
        headers={
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, no-cache",
            "X-Plan-Width-M": repr(plan.info.width_m),
            "X-Plan-Height-M": repr(plan.info.height_m),
        },
    )
