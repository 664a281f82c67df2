"""The admin pages: staff accounts and study membership."""
