"""The coordinator's console: studies, invitations, trainees, sessions, attendance."""
