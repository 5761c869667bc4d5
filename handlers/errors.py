"""Errors a user may see: each carries a safe Chinese message for the chat."""


class UserFacingError(Exception):
    """Raised by handlers; the message is shown to the user as it is, so it must be safe."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PermissionDenied(UserFacingError):
    pass


class NotFound(UserFacingError):
    pass


class BadInput(UserFacingError):
    pass
