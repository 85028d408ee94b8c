"""Accountability at the handoff: the service levels sales and marketing sign, measured on exact business-hours
clocks.

`tandem.sla.calendar` holds a team's working calendar and the clock in Python (business seconds between two
instants, pauses, deadlines); `tandem.sla.table` computes the same business seconds in the warehouse, on every
backend, through a table of business intervals. docs/sla.md says what a calendar looks like and how time is counted.
"""
