"""The warehouse: canonical tables of the company's events, and the import that fills them."""
