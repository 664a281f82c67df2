"""Forms of the administrator's pages."""

from __future__ import annotations

from wtforms import HiddenField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import EqualTo, InputRequired, Length, ValidationError

from study.forms import Form
from study.services.staff import ADMIN, ROLE_NAMES


class UnblindForm(Form):
    """Unblinding a study: why, and the study's slug typed again to confirm."""

    reason = TextAreaField("Why is the study unblinded now?", validators=[
        InputRequired("Give the reason for unblinding; it is kept in the audit trail."),
        Length(max=1000)])
    confirm = StringField("Type the study's slug again to confirm", validators=[
        InputRequired("Type the study's slug to confirm.")])


class PasswordForm(Form):
    """A new password for an account, typed twice. The length rule is the service's."""

    password = PasswordField("New password", validators=[
        InputRequired("Enter the new password.")])
    confirm = PasswordField("The new password again", validators=[
        InputRequired("Type the new password again."),
        EqualTo("password", "The two passwords differ: type the same password twice.")])


class AddRoleForm(Form):
    """A role to give an account: admin, or a study role in the chosen study.

    ``studies`` are the slugs offered.
    """

    role = SelectField("Role", choices=[SelectChoice(name, name) for name in ROLE_NAMES],
                       validators=[InputRequired("Choose a role.")])
    study = SelectField("Study (for a coordinator or researcher)")

    def __init__(self, studies: list[str], **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.study.choices = [SelectChoice("", "No study (admin)"),
                              *(SelectChoice(slug, slug) for slug in studies)]

    def validate_study(self, field: SelectField) -> None:
        if self.role.data != ADMIN and not field.data:
            raise ValidationError(f"A {self.role.data} works on a study: choose it.")


class RemoveRoleForm(Form):
    """One of an account's roles, named by the button that takes it away.

    templates/admin/account.html writes one small form per role with these fields by hand
    (``remove-role``, ``remove-study``, ``remove-csrf_token``): WTForms would give every
    form's hidden inputs the same ids.
    """

    role = HiddenField(validators=[InputRequired()])
    study = HiddenField()
