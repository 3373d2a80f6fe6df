"""Live telephony: the AMI connection, participant tracking, PBX actions and the AstDB sync."""
