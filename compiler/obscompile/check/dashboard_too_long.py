"""dashboard/too-long: a dashboard title, tag or folder longer than Grafana stores.

Grafana keeps each dashboard's title, tags and folder in columns of its SQL
database as well as in the dashboard's JSON. Its migrations (dashboard_mig.go and
folder_mig.go in pkg/services/sqlstore/migrations) declare `dashboard.title` and
`folder.title` with 189 characters and `dashboard_tag.term` with 50. They are
`VARCHAR` columns of utf8mb4 in MySQL and `varchar(n)` in PostgreSQL, which both
count characters (code points), not bytes. A longer value fails to save on
PostgreSQL and on MySQL in strict mode (STRICT_TRANS_TABLES, MySQL's default since
5.7). SQLite, Grafana's default database, does not enforce the lengths. Panel and
row titles are kept only in the dashboard's JSON, and the loader rejects a uid
longer than 40 characters, the length of Grafana's uid columns.
"""

from __future__ import annotations

from collections.abc import Iterator

from obscompile.check.context import ServiceContext
from obscompile.check.registry import Scope, check
from obscompile.diagnostics import Diagnostic, error, shorten
from obscompile.load.validate import schema_validated
from obscompile.model.location import Location
from obscompile.model.service import Dashboard, Service
from obscompile.render.folders import is_general

NAME = "dashboard/too-long"

# The lengths of the title columns of Grafana's `dashboard` and `folder` tables and
# of the `term` column of its `dashboard_tag` table, in characters.
TITLE_MAX = 189
TAG_MAX = 50
SAVE_FAILS = "Grafana fails to save the dashboard"

# The characters of Unicode's White_Space property, which Go's strings.TrimSpace
# removes from both ends of a dashboard's title before Grafana saves it.
GO_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007"
    "\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)


def _title_location(service: Service, dashboard: Dashboard) -> Location:
    """Return where the dashboard's title is written, or else the service's name.

    Without `dashboard.title`, the title is the service's `title`, and without that,
    its name.
    """
    for found in (dashboard.locations, service.locations):
        if "title" in found:
            return found["title"]
    return service.locations.get("service", service.location)


def _too_long(what: str, text: str, limit: int, column: str, failure: str) -> str:
    return (
        f"{what} has {len(text)} characters, more than the {limit} of the {column} "
        f"column in Grafana's database, so {failure} on MySQL and PostgreSQL; "
        f"shorten it to at most {limit} characters"
    )


@check(
    NAME,
    "a dashboard title, tag or folder longer than Grafana's database stores",
    scope=Scope.SERVICE,
)
def too_long(context: ServiceContext) -> Iterator[Diagnostic]:
    service = context.service
    dashboard = service.dashboard
    if dashboard is None:
        return
    title = dashboard.title.strip(GO_SPACE)
    if len(title) > TITLE_MAX:
        yield error(
            _title_location(service, dashboard),
            _too_long(
                "dashboard title", title, TITLE_MAX, "dashboard.title", SAVE_FAILS
            ),
            NAME,
        )
    tags_at = dashboard.locations.get("tags", dashboard.location)
    for index, tag in enumerate(dashboard.tags):
        tag_at = dashboard.locations.get(f"tags.{index}", tags_at)
        if len(tag) > TAG_MAX and not schema_validated(tag_at):
            yield error(
                tag_at,
                _too_long(
                    f'tag "{shorten(tag)}"',
                    tag,
                    TAG_MAX,
                    "dashboard_tag.term",
                    SAVE_FAILS,
                ),
                NAME,
            )
    folder = dashboard.folder.strip().strip(GO_SPACE)
    if not is_general(folder) and len(folder) > TITLE_MAX:
        yield error(
            dashboard.locations.get("folder", dashboard.location),
            _too_long(
                "folder title",
                folder,
                TITLE_MAX,
                "folder.title",
                "Grafana fails to create the folder",
            ),
            NAME,
        )
