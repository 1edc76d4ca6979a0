"""HubSpot adapter: `CrmPort` on hubspot-api-client 12 (see `client.HubSpotCrm`)."""
