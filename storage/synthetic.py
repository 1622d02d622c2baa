"""Many plausible cases at once, for the case-store benchmark (and nothing else).

Inserting 10,000 cases one service call at a time would measure intake, not
search; this writes the same rows the service would (cases, evidence file
records, a finished analysis with model regions, one analyst edit, audit
events) in large transactions.  No image files are written: a store filled
this way is for timing, and `verify` would rightly call its files missing.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from datetime import datetime, timedelta
from functools import partial

from sqlalchemy.orm import Session

from storage.store import CaseStore
from storage.tables import (
    AnalysisRow,
    AuditEventRow,
    CaseRow,
    EvidenceFileRow,
    RegionRow,
    utc_now,
)

PLACES = ["harbour", "flood", "protest", "wildfire", "summit", "border", "stadium", "parliament", "earthquake",
          "rally", "airport", "bridge", "market", "storm", "election", "refinery"]
VERDICT_CHOICES = ["ai-generated", "real", "inconclusive"]
BATCH = 500


def populate(store: CaseStore, cases: int, regions_per_case: int, analysts: int = 25, seed: int = 0) -> None:
    """Add `cases` synthetic cases with `regions_per_case` model regions each."""
    rng = random.Random(seed)
    start = utc_now() - timedelta(days=365)
    for first in range(0, cases, BATCH):
        count = min(BATCH, cases - first)
        store._db.write(partial(_batch, rng=rng, start=start, first=first, count=count, regions=regions_per_case,
                                analysts=analysts))


def _batch(session: Session, *, rng: random.Random, start: datetime, first: int, count: int, regions: int,
           analysts: int) -> None:
    rows = []
    for number in range(first, first + count):
        when = start + timedelta(minutes=52 * number + rng.randint(0, 50))
        analyst = f"analyst-{rng.randrange(analysts)}"
        final = rng.choice([None, None, *VERDICT_CHOICES])
        case = CaseRow(uid=uuid.uuid4().hex, title=f"{rng.choice(PLACES).title()} photo #{number}", notes="",
                       status=rng.choice(["open", "in-review", "closed"]), final_verdict=final, final_note="",
                       model_verdict=rng.choice(VERDICT_CHOICES), created_by=analyst, created_at=when,
                       updated_at=when + timedelta(minutes=30))
        rows.append((case, analyst, when, number))
    session.add_all([row[0] for row in rows])
    session.flush()
    for case, analyst, when, number in rows:
        sha = hashlib.sha256(f"synthetic image {number}".encode()).hexdigest()
        evidence = EvidenceFileRow(case_id=case.id, sha256=sha, original_name=f"IMG_{number:05d}.jpg",
                                   size_bytes=rng.randint(200_000, 8_000_000), format="JPEG", mime="image/jpeg",
                                   width=4000, height=3000, intake_at=when, intake_by=analyst)
        session.add(evidence)
        session.flush()
        analysis = AnalysisRow(
            case_id=case.id, evidence_file_id=evidence.id, backend="evidence", backend_version="synthetic",
            parameters={"max_regions": regions}, software={}, status="done", started_by=analyst,
            started_at=when, finished_at=when + timedelta(seconds=3), timings={"total": 3.0},
            verdict=case.model_verdict, score=rng.random(), explanation="synthetic", evidence=[], notes=[],
            raw_output=None)
        session.add(analysis)
        session.flush()
        model_regions = []
        for index in range(regions):
            x, y = rng.randint(0, 3000), rng.randint(0, 2000)
            model_regions.append(RegionRow(
                analysis_id=analysis.id, parent_region_id=None, source="model", status="open",
                region_key=f"r{index + 1}", x1=x, y1=y, x2=x + 256, y2=y + 256, score=rng.random(),
                label="smoother than the rest (noise)", explanation="synthetic", evidence=[],
                created_by=analyst, created_at=when))
        session.add_all(model_regions)
        session.flush()
        edited = model_regions[0]
        session.add(RegionRow(
            analysis_id=analysis.id, parent_region_id=edited.id, source=edited.source, status="confirmed",
            region_key=edited.region_key, x1=edited.x1, y1=edited.y1, x2=edited.x2, y2=edited.y2,
            score=edited.score, label=edited.label, explanation="checked", evidence=[], created_by=analyst,
            created_at=when + timedelta(minutes=20)))
        for action, minutes in (("case-created", 0), ("evidence-added", 1), ("analysis-started", 2),
                                ("analysis-finished", 3), ("region-edited", 20)):
            session.add(AuditEventRow(case_id=case.id, actor=analyst, action=action, subject=f"case:{case.id}",
                                      before=None, after={"synthetic": True},
                                      at=when + timedelta(minutes=minutes)))
