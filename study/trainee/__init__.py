"""The trainee journey on the web: one personal link, every step a page."""
