"""Clients of apps with an admin role configured, under FILE_READ_ACCESS public and owner."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from blobstore.config import Settings
from tests.helpers import app_client
from tests.tokens import ADMIN_AUTH


@pytest.fixture
async def public_client(
    settings: Settings, engine: AsyncEngine
) -> AsyncIterator[httpx.AsyncClient]:
    """A client of an app with FILE_READ_ACCESS=public where the `admin` role names admins."""
    async with app_client(replace(settings, auth=ADMIN_AUTH)) as client:
        yield client


@pytest.fixture
async def owner_client(settings: Settings, engine: AsyncEngine) -> AsyncIterator[httpx.AsyncClient]:
    """As `public_client`, with FILE_READ_ACCESS=owner."""
    owner_only = replace(settings, auth=ADMIN_AUTH, file_read_access="owner")
    async with app_client(owner_only) as client:
        yield client
