"""The 12-adjective Intergroup Anxiety Scale as one oTree page, for bench/otree.py.

The adjectives, their order and the 1-10 scale are those of Allport's bundled instrument
(instruments/library/intergroup-anxiety@1.0.yaml); bench/otree.py checks that the page it
measures carries every one of them before it measures anything.
"""

from otree.api import BaseConstants, BaseGroup, BasePlayer, BaseSubsession, Page, models, widgets

doc = "Intergroup Anxiety Scale (12 adjectives), one page of 1-10 ratings."

# 1 (not at all) to 10 (extremely), the anchors on the scale's ends as Allport shows them.
SCALE = [(1, "1 Not at all"), *[(n, str(n)) for n in range(2, 10)], (10, "10 Extremely")]


def rating(adjective: str) -> models.IntegerField:
    """One item: the adjective as its label, ten radio buttons in a row."""
    return models.IntegerField(label=adjective, choices=SCALE, widget=widgets.RadioSelectHorizontal)


class C(BaseConstants):
    NAME_IN_URL = "intergroup_anxiety"
    PLAYERS_PER_GROUP = None
    NUM_ROUNDS = 1


class Subsession(BaseSubsession):
    pass


class Group(BaseGroup):
    pass


class Player(BasePlayer):
    ia_apprehensive = rating("Apprehensive")
    ia_uncertain = rating("Uncertain")
    ia_worried = rating("Worried")
    ia_awkward = rating("Awkward")
    ia_anxious = rating("Anxious")
    ia_threatened = rating("Threatened")
    ia_comfortable = rating("Comfortable")
    ia_trusting = rating("Trusting")
    ia_friendly = rating("Friendly")
    ia_confident = rating("Confident")
    ia_safe = rating("Safe")
    ia_at_ease = rating("At ease")


class Anxiety(Page):
    form_model = "player"
    form_fields = [
        "ia_apprehensive", "ia_uncertain", "ia_worried", "ia_awkward", "ia_anxious",
        "ia_threatened", "ia_comfortable", "ia_trusting", "ia_friendly", "ia_confident",
        "ia_safe", "ia_at_ease",
    ]


class Thanks(Page):
    pass


page_sequence = [Anxiety, Thanks]
