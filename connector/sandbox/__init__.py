"""Stateful emulators of Salesforce, HubSpot and Twilio that the real SDKs talk to unmodified.

They ship with the package because `make demo` and the benchmarks run against them."""
