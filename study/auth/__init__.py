"""Staff sign-in and sign-out, and the per-study role checks every staff route uses."""
