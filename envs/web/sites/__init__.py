"""The sites web tasks run on: a shop, a forum and an admin tool, each a WSGI app over sqlite."""

from __future__ import annotations

from assay.envs.web.framework import Site
from assay.envs.web.sites.admin import AdminSite
from assay.envs.web.sites.forum import ForumSite
from assay.envs.web.sites.shop import ShopSite

SITES: dict[str, type[Site]] = {cls.name: cls for cls in (ShopSite, ForumSite, AdminSite)}
