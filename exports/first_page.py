"""The report's first page, which stands on its own: the image with its
numbered boxes, the analyst's conclusion, the tool's reading in plain words
(verdict word, headline, basis, 3-5 key points), a plain note where the two
disagree, and the case's identity (title, id, hashes, who and when)."""

from __future__ import annotations

from reportlab.platypus import Flowable, ListFlowable, ListItem, Paragraph, Spacer

from exports.pictures import Overviews
from exports.page_template import generated_line
from exports.report_model import TOOL_NAME, EvidenceView, ReportData
from exports.styles import Styles, key_values, para
from exports.text import fold_lines, markup
from exports.timefmt import when
from models.glossary import confidence_word, verdict_word

THUMBNAIL_HEIGHT = 170  # points: room below for the conclusion and the reading
NOTE_LINES = 10  # of the final note on this page; the whole note follows in its own section
KEY_POINTS = 5


def first_page(data: ReportData, styles: Styles, width: float, overviews: Overviews) -> list[Flowable]:
    case = data.case
    story: list[Flowable] = [Paragraph("Forensic image report", styles.title),
                             para(fold_lines(case.title, 3), styles.h1)]
    for item in data.items:
        if item.analysis is not None:
            story += [overviews.flowable(item, width, THUMBNAIL_HEIGHT), Spacer(1, 4)]
    story += _conclusion(data, styles)
    for item in data.items:
        story += _reading(item, styles, case.final_verdict, len(data.items) > 1)
    story += [Spacer(1, 6), key_values(_identity(data), styles, width, max_lines=3,
                                       mono_keys=frozenset(_hash_keys(data)))]
    return story


def _conclusion(data: ReportData, styles: Styles) -> list[Flowable]:
    case = data.case
    story: list[Flowable] = [Paragraph("The analyst's conclusion", styles.h2)]
    if not case.final_verdict:
        return story + [Paragraph("No analyst has concluded this case yet: what follows is the tool's reading, "
                                  "not an examiner's conclusion.", styles.warning)]
    by = ""
    if data.concluded is not None:
        by = f" (concluded by {markup(fold_lines(data.concluded.actor, 1), 200)}, {when(data.concluded.at)})"
    story.append(Paragraph(f"<b>{markup(verdict_word(case.final_verdict))}</b>{by}", styles.body))
    if data.final_note:
        shown = fold_lines(data.final_note, NOTE_LINES)
        if shown != data.final_note:
            shown += " The whole note is in the section \"The analyst's note in full\"."
        story.append(para(shown, styles.body))
    return story


def _reading(item: EvidenceView, styles: Styles, final_verdict: str | None, name_it: bool) -> list[Flowable]:
    name = markup(fold_lines(item.file.original_name, 1), 200)
    heading = f"The tool's reading of {name}" if name_it else "The tool's reading"
    story: list[Flowable] = [Paragraph(heading, styles.h2)]
    analysis, reading = item.analysis, item.reading
    if analysis is None or analysis.verdict is None or reading is None:
        return story + [Paragraph(f"{name}: no finished analysis; the tool gives no reading of this file.",
                                  styles.body)]
    story.append(Paragraph(f"<b>{markup(verdict_word(analysis.verdict))}</b> (confidence: "
                           f"{markup(confidence_word(reading.confidence))})", styles.body))
    if reading.figure is not None:  # the one number its words describe
        story.append(Paragraph(f"<b>{reading.figure:.2f}</b>: {markup(reading.figure_label or 'score')}",
                               styles.body))
    story.append(Paragraph(f"<b>{markup(reading.headline)}</b>", styles.body))
    if reading.basis and not _repeats(reading.basis, reading.headline):
        story.append(Paragraph(f"Why: {markup(reading.basis)}", styles.body))
    points = [ListItem(para(fold_lines(point, 4), styles.body), leftIndent=12)
              for point in reading.key_points[:KEY_POINTS]]
    if points:
        story += [Paragraph("Key evidence", styles.h2),
                  ListFlowable(points, bulletType="bullet", start="\u2022", bulletFontName=styles.fonts.regular)]
    if reading.limits:
        story.append(Paragraph(f"What the tool cannot tell here: {markup(reading.limits)}", styles.small))
    if final_verdict and final_verdict != analysis.verdict:
        story.append(_disagreement(final_verdict, analysis.verdict, styles))
    decided = decision_counts(item)
    if decided:
        story.append(para(f"On the image: {decided}; each region is shown in its own section.", styles.body))
    return story


def _disagreement(final_verdict: str, tool_verdict: str, styles: Styles) -> Paragraph:
    analyst = markup(verdict_word(final_verdict))
    if tool_verdict == "inconclusive":  # the tool took no side: nothing to disagree with
        return Paragraph(f"The tool could not tell; the conclusion {analyst} is the analyst's own.", styles.body)
    return Paragraph(f"The analyst and the tool disagree: the analyst concluded {analyst}, the tool reads "
                     f"{markup(verdict_word(tool_verdict))}. The analyst's conclusion is this report's; the tool's "
                     "reading is kept for the record.", styles.warning)


def _repeats(basis: str, headline: str) -> bool:
    """True when the basis says again what the headline already says."""
    words = [w.strip(".,;:").lower() for w in basis.split()]
    said = {w.strip(".,;:").lower() for w in headline.split()}
    return bool(words) and sum(w in said for w in words) >= 0.8 * len(words)


def decision_counts(item: EvidenceView) -> str:
    """What the analyst did with the tool's regions, counted by who drew each box."""
    counts = {"confirmed": 0, "rejected": 0, "not-relevant": 0, "deleted": 0}
    for region in item.regions:
        if region.drawn_by == "model" and region.changes and region.latest.status in counts:
            counts[region.latest.status] += 1
    wording = {"confirmed": "confirmed {n}", "rejected": "judged {n} authentic",
               "not-relevant": "judged {n} not relevant", "deleted": "deleted {n}"}
    parts = [wording[status].format(n=n) for status, n in counts.items() if n]
    tool = f"of the tool's regions the analyst {', '.join(parts)}" if parts else ""
    added = sum(1 for region in item.regions if region.drawn_by == "analyst")
    own = f"the analyst drew {added} region{'' if added == 1 else 's'} of their own" if added else ""
    return "; ".join(part for part in (tool, own) if part)


def _identity(data: ReportData) -> list[tuple[str, object]]:
    case = data.case
    status = "closed (concluded)" if case.status == "closed" and case.final_verdict else case.status
    rows: list[tuple[str, object]] = [
        ("Case", f"{case.id}: {case.title}"), ("Case uid", case.uid), ("Status", status),
        ("Opened", f"{when(case.created_at)} by {case.created_by}"),
    ]
    if data.concluded is not None:
        rows.append(("Concluded", f"{when(data.concluded.at)} by {data.concluded.actor}"))
    for index, item in enumerate(data.items, 1):
        rows.append((f"Evidence {index}", f"{item.file.original_name}, intake {when(item.file.intake_at)} by "
                                          f"{item.file.intake_by}"))
        rows.append((f"SHA-256 of evidence {index}", item.verified_sha256))
    made = f"made by {data.exported_by} with" if data.exported_by else "made with"
    rows.append(("Report", f"{made} {TOOL_NAME} {data.tool_version}; {generated_line(data.generated_at)}"))
    return rows


def _hash_keys(data: ReportData) -> list[str]:
    return [f"SHA-256 of evidence {index}" for index in range(1, len(data.items) + 1)]
