"""Planning: one revenue goal, the funnel model that turns it into stage volumes, and the plan both teams accept."""
