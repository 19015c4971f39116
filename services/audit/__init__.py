"""Who did what: the audit log (services/audit/log.py) and the actor type everyone passes."""
