"""Outcome measurement (`smsync report`): SQL aggregates over the store, holdout lift with
confidence intervals, and renderers for the terminal, JSON and one offline HTML file."""
