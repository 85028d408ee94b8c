"""The business-hours clock: calendars, business seconds in Python and in the warehouse."""
