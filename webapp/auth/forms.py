"""Login form."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField
from wtforms.validators import DataRequired, Length, ValidationError

from webapp.auth.emails import normalize_email


def account_email(form, field) -> None:
    """The account e-mail rule (the same one `flask users create` applies)."""
    try:
        normalize_email(field.data or "")
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc


class LoginForm(FlaskForm):
    """E-mail and password."""

    email = EmailField(_l("E-mail"), validators=[DataRequired(), account_email])
    password = PasswordField(_l("Password"), validators=[DataRequired(), Length(max=200)])
    remember = BooleanField(_l("Keep me logged in"))
