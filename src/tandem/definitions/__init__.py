"""Funnel stage definitions: the rules both teams approve, parsed and checked before they count a single lead."""
