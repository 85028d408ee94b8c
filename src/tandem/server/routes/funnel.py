"""The Funnel page and its REST endpoints."""

from __future__ import annotations

from fastapi import APIRouter

from tandem.server.access import GuardedRoute

router = APIRouter(route_class=GuardedRoute)
