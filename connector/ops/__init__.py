"""What an operator sees and does: failures (list, retry, drop), status, alerts, the
consent audit trail and the admin page. Each reads the store the engine writes; none of
them is on the path of a text or a CRM write."""
