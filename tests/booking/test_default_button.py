"""Enter in a field of the booking form sends the request (its default button).

The default button of a form, the one Enter presses, is the first submit button in the
page whose form it is. On a form shown again the chooser's choices are submit buttons of
the booking form (form="booking-form") placed before it: the request's own must come first.
"""

from html.parser import HTMLParser

from tests.booking.test_double_submit import BOOK, filled_in


class SubmitButtons(HTMLParser):
    """The booking form's submit buttons, in the order of the page: (attributes, text)."""

    def __init__(self, html):
        super().__init__(convert_charrefs=True)
        self.buttons = []
        self._form = None
        self._button = None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self._form = attrs.get("id")
        elif (
            tag == "button"
            and attrs.get("type", "submit") == "submit"
            and attrs.get("form", self._form) == "booking-form"
        ):
            self._button = [attrs, ""]

    def handle_data(self, data):
        if self._button is not None:
            self._button[1] += data

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "button" and self._button is not None:
            self._button[1] = " ".join(self._button[1].split())
            self.buttons.append(tuple(self._button))
            self._button = None


def test_a_form_shown_again_sends_the_request_on_enter(
    client, service, practitioner, monday, seconds_pass
):
    data = filled_in(client, monday, seconds_pass)
    mistaken = client.post(BOOK, dict(data, phone=""))
    assert mistaken.status_code == 200
    buttons = SubmitButtons(mistaken.content.decode()).buttons
    assert any(attrs.get("name") == "choose" for attrs, _ in buttons)  # choices are buttons

    default, text = buttons[0]
    assert text == "Send my request"
    assert "name" not in default  # sends what the real button sends: no "choose"
    # Not drawn, but rendered (a button with display:none may be skipped), no tab stop,
    # and not a second "Send my request" for screen readers.
    assert "hidden" not in default
    assert default.get("class") == "visually-hidden"
    assert default.get("tabindex") == "-1"
    assert default.get("aria-hidden") == "true"
    # The real one is still there, at the end of the form.
    last, last_text = buttons[-1]
    assert last_text == "Send my request" and "aria-hidden" not in last


def test_a_blank_form_has_one_send_button(client, service, practitioner):
    buttons = SubmitButtons(client.get(BOOK).content.decode()).buttons
    assert [text for _, text in buttons] == ["Send my request"]
