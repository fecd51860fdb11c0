"""Change tracking: `ChangeLogEntry`, the one language of change; tracked dicts, lists and
objects that record each change; who makes the changes; observers and exporters that take the
changes elsewhere."""

from pdip.tracking.actors import current_actor, tracking_actor
from pdip.tracking.config import observers_from_config
from pdip.tracking.containers import TrackedDefaultDict, TrackedDict, TrackedList, TrackedOrderedDict
from pdip.tracking.entry import ChangeLogEntry
from pdip.tracking.errors import ExportError, ObserverConfigError, TrackingError
from pdip.tracking.exporters import JsonLinesExporter, SqlExporter, read_json_lines
from pdip.tracking.http_exporter import HttpExporter
from pdip.tracking.kafka_exporter import KafkaExporter
from pdip.tracking.objects import TrackedObject
from pdip.tracking.observers import (
    AsyncQueueObserver,
    CallbackObserver,
    ChangeCollector,
    TelemetryObserver,
    telemetry_observer,
)
from pdip.tracking.s3_exporter import S3Exporter
from pdip.tracking.tracker import Tracker

__all__ = [
    "AsyncQueueObserver",
    "CallbackObserver",
    "ChangeCollector",
    "ChangeLogEntry",
    "ExportError",
    "HttpExporter",
    "JsonLinesExporter",
    "KafkaExporter",
    "ObserverConfigError",
    "S3Exporter",
    "SqlExporter",
    "TelemetryObserver",
    "TrackedDefaultDict",
    "TrackedDict",
    "TrackedList",
    "TrackedObject",
    "TrackedOrderedDict",
    "Tracker",
    "TrackingError",
    "current_actor",
    "observers_from_config",
    "read_json_lines",
    "telemetry_observer",
    "tracking_actor",
]
