"""The Prometheus text exposition of ``/metrics``: per channel and school (``school="default"``
for the deployment's own bot and senders)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from storage.channel_health import LaneHealth

METRICS = (
    ("jembatan_messages_sent_total", "counter", "Messages delivered to the platform.",
     lambda lane, now: lane.sent),
    ("jembatan_outbox_queued", "gauge", "Messages waiting to be sent.", lambda lane, now: lane.queued),
    ("jembatan_outbox_oldest_unsent_seconds", "gauge", "Age of the oldest message waiting to be sent.",
     lambda lane, now: (now - lane.oldest_unsent).total_seconds() if lane.oldest_unsent else 0.0),
    ("jembatan_last_sent_timestamp_seconds", "gauge", "When the last message was delivered (Unix time).",
     lambda lane, now: lane.last_sent.timestamp() if lane.last_sent else 0.0),
)


def prometheus(lanes: list[LaneHealth], throttled: Mapping[tuple[str, str], int], now: datetime) -> str:
    lines: list[str] = []
    for name, kind, help_text, value in METRICS:
        lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
        lines += [f"{name}{{{_labels(lane.channel, lane.bot)}}} {_number(value(lane, now))}" for lane in lanes]
    name = "jembatan_rate_limited_total"
    lines += [f"# HELP {name} Sends the platform refused as over its rate limit (429), in this process.",
              f"# TYPE {name} counter"]
    known = {(lane.channel, lane.bot) for lane in lanes} | set(throttled)
    lines += [f"{name}{{{_labels(*lane)}}} {throttled.get(lane, 0)}" for lane in sorted(known)]
    return "\n".join(lines) + "\n"


def _labels(channel: str, bot: str) -> str:
    return f'channel="{_escape(channel)}",school="{_escape(bot or "default")}"'


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"
