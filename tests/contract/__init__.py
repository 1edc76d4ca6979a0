"""One suite every CRM adapter passes against the sandbox (singer-sdk's habit)."""
