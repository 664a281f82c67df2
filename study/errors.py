"""Domain errors: services raise them, the web layer and the CLI translate them for people."""


class DomainError(Exception):
    """A request that the rules of the study do not allow; the message is shown to the user."""


class NotFound(DomainError):
    pass


class InvalidTransition(DomainError):
    """A participant or study was asked to move to a state it cannot reach from where it is."""


class NotAllowed(DomainError):
    """The action exists but this participant, session or study cannot take it now."""
