"""`smsync demo`: the real connector through one simulated business day on the sandbox."""
