"""Admin forms."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileRequired, MultipleFileField
from wtforms import (
    BooleanField,
    DateField,
    EmailField,
    PasswordField,
    SelectChoice,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import DataRequired, Length, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from webapp.auth.forms import account_email

PHOTO_TYPES = ["jpg", "jpeg", "png", "webp"]


class MultiCheckboxField(SelectMultipleField):
    """Several choices as a list of checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


class EmployeeForm(FlaskForm):
    """Create an employee."""

    name = StringField(_l("Name"), validators=[DataRequired(), Length(max=120)])
    employee_no = StringField(_l("Employee number"), validators=[Optional(), Length(max=40)])
    department = StringField(_l("Department"), validators=[Optional(), Length(max=120)])


class PhotoUploadForm(FlaskForm):
    """Upload enrollment photos."""

    photos = MultipleFileField(
        _l("Photos"),
        validators=[
            FileRequired(),
            FileAllowed(PHOTO_TYPES, _l("Photos must be JPEG, PNG or WebP.")),
        ],
    )
    consent = BooleanField(_l("The employee has read the consent text above and agrees"))


WEEKDAYS = [
    ("1", _l("Mon")),
    ("2", _l("Tue")),
    ("3", _l("Wed")),
    ("4", _l("Thu")),
    ("5", _l("Fri")),
    ("6", _l("Sat")),
    ("7", _l("Sun")),
]


def choices(pairs) -> list[SelectChoice]:
    """(value, label) pairs as WTForms choices."""
    return [SelectChoice(value, label) for value, label in pairs]


class ScheduleFields:
    """Start, end and working days; all empty means "inherit"."""

    schedule_start = TimeField(_l("Work starts"), validators=[Optional()])
    schedule_end = TimeField(_l("Work ends"), validators=[Optional()])
    workdays = MultiCheckboxField(_l("Working days"), choices=lambda: choices(WEEKDAYS))

    def validate(self, extra_validators=None) -> bool:
        """Also check that start and end come together and differ."""
        valid = super().validate(extra_validators)
        start, end = self.schedule_start.data, self.schedule_end.data
        problem = None
        if (start is None) != (end is None):
            problem = _l("Give both the start and the end, or neither.")
        elif start is not None and start == end:
            problem = _l("The working day cannot start and end at the same time.")
        if problem:
            self.schedule_end.errors = [*self.schedule_end.errors, problem]
            return False
        return valid


class EmployeeEditForm(ScheduleFields, EmployeeForm):
    """Edit an employee and their own schedule."""


class DepartmentForm(ScheduleFields, FlaskForm):
    """A department's schedule."""

    name = StringField(_l("Department"), validators=[DataRequired(), Length(max=120)])


class ConsentForm(FlaskForm):
    """The employee agreed to the consent text shown."""

    agreed = BooleanField(_l("The employee has read this text and agrees"))


class MissedPunchForm(FlaskForm):
    """Add a check-in or check-out someone forgot."""

    employee_id = SelectField(_l("Employee"), coerce=int, validators=[DataRequired()])
    kind = SelectField(
        _l("Type"),
        choices=lambda: choices([("check_in", _l("Check-in")), ("check_out", _l("Check-out"))]),
    )
    day = DateField(_l("Date"), validators=[DataRequired()])
    clock = TimeField(_l("Time"), validators=[DataRequired()])
    reason = TextAreaField(_l("Reason"), validators=[DataRequired(), Length(max=500)])


ROLE_CHOICES = [
    ("admin", _l("Administrator")),
    ("manager", _l("Manager")),
    ("studio", _l("Studio user")),
]


class UserForm(FlaskForm):
    """Create a user account."""

    email = EmailField(_l("E-mail"), validators=[DataRequired(), account_email])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(min=8, max=200)])
    role = SelectField(_l("Role"), choices=lambda: choices(ROLE_CHOICES))
    department = StringField(_l("Department (managers)"), validators=[Optional(), Length(max=120)])
