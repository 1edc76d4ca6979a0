"""The Salesforce adapter: `CrmPort` on simple-salesforce, with our own OAuth and session
refresh, composite writes at the API maximum, limits and schema checks."""
