"""The Allport domain (studies, participants, randomization, sessions) and its web layer."""
