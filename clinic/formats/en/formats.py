"""How dates and times read and are typed in, in English: as the rest of the site writes
them ("Thu, Nov 26, 2026, 1:45 PM"), and a time field shows 13:45, not 13:45:00.

Only what differs from Django's own English formats is here; the rest are Django's.
"""

DATETIME_FORMAT = "D, M j, Y, g:i A"
# A day alone as a day with a time writes it: "Thu, Dec 24, 2026" (a closure, a review).
DATE_FORMAT = "D, M j, Y"
TIME_FORMAT = "g:i A"
# The first is how a time field shows its value; staff may also type 1:45 PM.
TIME_INPUT_FORMATS = ["%H:%M", "%H:%M:%S", "%H:%M:%S.%f", "%I:%M %p", "%I:%M%p"]
