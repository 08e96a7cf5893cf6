"""How ill a patient is at a given moment of an episode (0 well, above 1 critically ill).

Finished admissions recover towards discharge; a current admission either recovers or,
for the deteriorating few, gets steadily worse up to ``now`` (these feed NEWS2 alerts).
"""

from __future__ import annotations

import math
from datetime import datetime

from wardbook.demo.story import Episode


def severity_at(episode: Episode, moment: datetime, now: datetime) -> float:
    """The episode's severity at ``moment``."""
    start = episode.start
    if episode.kind != "IMP":
        return episode.severity
    if episode.end is not None:
        total = (episode.end - start).total_seconds()
        fraction = (moment - start).total_seconds() / total if total > 0 else 1.0
        return episode.severity * max(0.05, 1.0 - 1.05 * fraction)
    elapsed_days = (moment - start).total_seconds() / 86400
    if episode.deteriorating:
        span = max((now - start).total_seconds(), 1.0)
        fraction = min(max((moment - start).total_seconds() / span, 0.0), 1.0)
        worst = min(max(1.0, episode.severity * 1.2), 1.2)
        low = episode.severity * 0.6
        return low + (worst - low) * fraction * math.sqrt(fraction)
    expected_days = 5.0
    if episode.problem is not None:
        expected_days = sum(episode.problem.stay_days) / 2
    return episode.severity * max(0.1, 1.0 - elapsed_days / expected_days)
