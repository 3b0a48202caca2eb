"""Filter presets: the label and edge-type sets an operator reaches for during the May 10 kind of incident.

A graph wipe's re-ingest brings the filesystem mirror back by itself, and the gap signals are regenerated
noise; what was lost is the rest. `incident default` leaves out both, as neo's #11141 dry run did.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.plan import Filters


@dataclass(frozen=True)
class Preset:
    name: str
    labels: tuple[str, ...]  # in the order an operator reads them (and the demo documents them)
    edge_types: tuple[str, ...]

    @property
    def filters(self) -> Filters:
        return Filters.of(self.labels, self.edge_types)


FILESYSTEM_MIRROR = Preset("filesystem mirror", ("FILE", "DIRECTORY"), ("CONTAINS",))
GAP_NOISE = Preset("gap noise", ("KB_GAP", "TOOLING_GAP"), ("DISCOVERED_IN", "EVALUATED_BY"))
INCIDENT_DEFAULT = Preset("incident default", FILESYSTEM_MIRROR.labels + GAP_NOISE.labels,
                          FILESYSTEM_MIRROR.edge_types + GAP_NOISE.edge_types)
NONE = Preset("none", (), ())
PRESETS: dict[str, Preset] = {p.name: p for p in (FILESYSTEM_MIRROR, GAP_NOISE, INCIDENT_DEFAULT, NONE)}
