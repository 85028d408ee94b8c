"""Marketing's share of revenue: journeys, rule-based and data-driven attribution (docs/attribution.md)."""
