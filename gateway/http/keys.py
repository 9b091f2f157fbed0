"""Typed application keys shared by the HTTP modules."""

from __future__ import annotations

from aiohttp import web

from gateway.service import GatewayService
from gateway.settings import Settings

SETTINGS = web.AppKey("settings", Settings)
SERVICE = web.AppKey("service", GatewayService)
