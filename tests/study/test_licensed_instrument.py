"""A licensed scale end to end: site wording supplied, answered on the web, scored as published."""

from __future__ import annotations

import csv
import io

from sqlalchemy import select

from study.extensions import db
from study.services import exports, invitations
from study.services.studies import StudySpec, create_study, open_recruitment, set_module_pages
from tests.helpers import TraineeDriver


def test_oms_hc_with_site_wording_is_answered_and_scored(make_app, tmp_path) -> None:
    first = make_app()
    library = first.extensions["allport.instruments"]
    keys = [item.key for item in library.get("oms-hc-15").items]
    wording = tmp_path / "oms.csv"
    with wording.open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["key", "text"])
        writer.writerows([key, f"Licensed statement {key}"] for key in keys)
    result = first.test_cli_runner().invoke(args=["instruments", "supply-wording", "oms-hc-15",
                                                  str(wording)])
    assert result.exit_code == 0, result.output

    app = make_app()  # a restarted server reads the supplied wording
    library = app.extensions["allport.instruments"]
    assert library.get("oms-hc-15").has_wording
    with app.app_context():
        study = create_study(db.session, StudySpec(
            slug="omshc", title="OMS-HC study", consent_text="Consent.",
            instruments={"baseline": ["oms-hc-15"], "post": ["oms-hc-15"]}),
            library, actor="test")
        set_module_pages(db.session, study, [("Only page", "Text", None)])
        open_recruitment(db.session, study, library, actor="test")
        token = invitations.invite(db.session, study, study.cohorts[0], 1, actor="t")[0].token
        db.session.commit()

    client = app.test_client()
    trainee = TraineeDriver(client, token)
    page = trainee.consent()
    html = page.get_data(as_text=True)
    assert "Licensed statement omshc_01" in html and "Page 1 of 2" in html
    # "Agree" (4) to every statement.
    trainee.answer_page(choose=lambda name, options: "4")
    page = trainee.answer_page(choose=lambda name, options: "4")
    assert page.request.path.endswith(("/education", "/sessions"))

    with app.app_context():
        study = db.session.scalars(select(exports.Study).where(exports.Study.slug == "omshc")).one()
        body = exports.export_csv(db.session, study, "scores", library, actor="test")
    scores = {row["scale"]: float(row["score"]) for row in csv.DictReader(io.StringIO(body))}
    # Reverse-keyed 3, 8, 9, 10, 19 score 6 - 4 = 2; the rest 4 (Modgill et al. 2014).
    assert scores == {"total": 50.0, "attitudes": 24.0, "disclosure": 14.0,
                      "social_distance": 12.0}
