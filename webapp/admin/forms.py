"""Admin forms."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileRequired, MultipleFileField
from wtforms import StringField
from wtforms.validators import DataRequired, Length, Optional

PHOTO_TYPES = ["jpg", "jpeg", "png", "webp"]


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
