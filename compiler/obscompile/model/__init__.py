"""The compiler's data model: frozen attrs classes built by the YAML loader and the DSL."""

from obscompile.model.location import Location
from obscompile.model.metric import Metric, MetricType
from obscompile.model.panel import Panel, PanelType, Row
from obscompile.model.scrape import ScrapeJob
from obscompile.model.service import AlertSettings, Dashboard, Service
from obscompile.model.threshold import (
    Band,
    Quantity,
    SeriesThreshold,
    Thresholds,
    ValueMapping,
)

__all__ = [
    "AlertSettings",
    "Band",
    "Dashboard",
    "Location",
    "Metric",
    "MetricType",
    "Panel",
    "PanelType",
    "Quantity",
    "Row",
    "ScrapeJob",
    "SeriesThreshold",
    "Service",
    "Thresholds",
    "ValueMapping",
]
