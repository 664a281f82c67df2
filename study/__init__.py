"""The Allport domain: studies, participants, randomization, sessions, and the web layer that serves them."""
