"""Orchestration over the ports: pull, plan, send, ingest, writeback, sweep."""
