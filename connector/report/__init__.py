"""Outcome measurement (`smsync report`): the store's read-only aggregates
(`connector/store/report_*.py`) assembled into figures, holdout lift with confidence
intervals, and renderers for the terminal, JSON and one offline HTML file."""
