"""The report's columnar scoring equals the exports' per-response scoring (DESIGN §6).

``analysis_data.long_scores`` re-states the rule of ``instruments.scoring.score_scale`` over whole
columns for speed; the ``scores`` export scores one response at a time with the rule itself.
Answers are deleted from some submitted questionnaires first, so that prorated and missing
scales are compared too, not only complete ones.
"""

from __future__ import annotations

import math

from sqlalchemy import delete, select

from study.extensions import db
from study.models import Answer, Response, ResponseStatus
from study.services.analysis_data import load_answers, long_scores
from study.services.exports import rows_for
from tests.helpers import Demo


def test_columnar_scores_equal_the_scores_export_with_items_missing(
        simulated_demo: Demo) -> None:
    with simulated_demo.app.app_context():
        study = simulated_demo.study()
        library = simulated_demo.library
        responses = list(db.session.scalars(select(Response.id).where(
            Response.status == ResponseStatus.SUBMITTED).order_by(Response.id)))
        # One answer gone from every third questionnaire (prorated), half from every seventh.
        for number, response_id in enumerate(responses):
            answers = list(db.session.scalars(select(Answer.id).where(
                Answer.response_id == response_id).order_by(Answer.id)))
            if number % 7 == 0:
                gone = answers[::2]
            elif number % 3 == 0:
                gone = answers[:1]
            else:
                continue
            db.session.execute(delete(Answer).where(Answer.id.in_(gone)))
        db.session.flush()

        _, exported = rows_for(db.session, study, "scores", library)
        columnar = long_scores(load_answers(db.session, study), library)

        assert len(columnar) == len(exported) > 0
        missing = prorated = 0
        for want, got in zip(exported, columnar.to_dict("records"), strict=True):
            for column in ("participant", "arm", "time", "instrument", "scale"):
                assert got[column] == want[column], (column, got, want)
            if want["score"] == "":
                missing += 1
                assert math.isnan(got["score"]), (got, want)
            else:
                assert got["score"] == want["score"], (got, want)
                prorated += want["score"] != round(want["score"])
        assert missing > 0 and prorated > 0  # both branches of the rule were compared
        db.session.rollback()
