"""Studio forms."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import Length


class TokenForm(FlaskForm):
    """A name for a new personal API token."""

    name = StringField(_l("What is it for?"), validators=[Length(max=80)])
