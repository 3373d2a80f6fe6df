"""Conference server run from Slack: wiring, settings, the service layer and the admin CLI."""
