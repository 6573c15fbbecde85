"""The drill's figures judged against the spec's ``recovery_objectives``, and its timeline as a picture.

The picture reuses the chaos timeline (aisys_verify/faults/timeline.py): one lane for the writer, one per
backup, one for the outage (disaster to serving again), and a dot per acknowledged write sampled along the
axis (green survived, red lost).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aisys_verify.backup.drill import DrillReport
from aisys_verify.errors import RecoveryObjectiveMissed


@dataclass(frozen=True)
class RecoveryVerdict:
    objective: str  # rpo | rto
    observed_s: float
    limit_s: float

    @property
    def met(self) -> bool:
        return self.observed_s <= self.limit_s

    def line(self) -> str:
        return (f"{self.objective.upper()} {self.observed_s:.2f} s against the objective {self.limit_s:g} s: "
                f"{'met' if self.met else 'MISSED'}")


def recovery_verdicts(report: DrillReport, rpo_s: float, rto_s: float) -> list[RecoveryVerdict]:
    return [RecoveryVerdict("rpo", report.rpo_s, rpo_s), RecoveryVerdict("rto", report.rto_s, rto_s)]


def assert_objectives(verdicts: list[RecoveryVerdict], where: str = "") -> None:
    """RecoveryObjectiveMissed for the first missed objective (the message lists them all)."""
    __tracebackhide__ = True
    missed = [v for v in verdicts if not v.met]
    if missed:
        first = missed[0]
        raise RecoveryObjectiveMissed(
            f"{where + ': ' if where else ''}{'; '.join(v.line() for v in verdicts)} (set recovery_objectives "
            "in the spec to what the system must meet, or back up more often / restore faster)",
            objective=first.objective, observed=first.observed_s, limit=first.limit_s)


def timeline_journal(report: DrillReport, samples: int = 40) -> dict[str, Any]:
    """The drill in the chaos journal's shape, for ``timeline_svg``."""
    end = report.serving_at
    lanes = [{"fault": f"writes ({report.acked} acknowledged)", "applied_at": report.first_write_at or
              report.disaster_at, "reverted_at": report.disaster_at,
              "efficacy": {"evidence": f"{report.lost} lost, watermark {report.watermark}"}}]
    for i, backup in enumerate(report.backups):
        lanes.append({"fault": f"backup {i + 1} (watermark {backup['watermark']})", "applied_at": backup["started"],
                      "reverted_at": max(backup["created"], backup["started"] + 0.05),
                      "efficacy": {"evidence": backup["folder"]}})
    lanes.append({"fault": f"{report.host} destroyed -> restored", "applied_at": report.disaster_at,
                  "reverted_at": report.restored_at, "efficacy": {"evidence": report.backup}})
    lanes.append({"fault": f"outage (RTO {report.rto_s:.2f} s)", "applied_at": report.disaster_at,
                  "reverted_at": end, "efficacy": {"evidence": "until healthy and the watermark reads back"}})
    during = []
    shown = report.acks
    step = max(1, len(shown) // samples)
    for ack in shown[::step]:
        during.append({"t": ack.t, "steady_state_met": report.watermark is not None and ack.seq <= report.watermark})
    return {"experiment": {"title": f"disaster drill: RPO {report.rpo_s:.2f} s, RTO {report.rto_s:.2f} s"},
            "status": f"{report.lost} of {report.acked} acknowledged writes lost", "faults": lanes,
            "steady_states": {"during": during}}


def timeline_picture(report: DrillReport) -> str:
    from aisys_verify.faults.timeline import timeline_svg

    return timeline_svg(timeline_journal(report), dots="writes survived / lost")
