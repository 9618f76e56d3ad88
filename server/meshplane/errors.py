"""The App Mesh error tree: every error a client can see, with its HTTP status.

    AppMeshError                      (base: error type name, status, message)
    ├── BadRequestException           400  invalid input; the message names the field path
    ├── ForbiddenException            403
    │   ├── MissingAuthenticationTokenException  no Authorization header (SigV4)
    │   ├── IncompleteSignatureException         a malformed Authorization header, no date
    │   ├── UnrecognizedClientException          unknown or disabled access key
    │   ├── InvalidSignatureException            bad signature, wrong scope, outside the clock window
    │   ├── ExpiredTokenException                the access key expired
    │   └── AccessDeniedException                no policy allows the action on the resource
    ├── NotFoundException             404
    ├── ConflictException             409  duplicate name; clientToken reused with other input
    ├── ResourceInUseException        409  delete refused while something depends on the resource
    ├── LimitExceededException        400  a quota would be exceeded
    ├── TooManyTagsException          400  more than 50 tags on one resource
    ├── TooManyRequestsException      429
    ├── InternalServerErrorException  500  (never raised on purpose)
    └── ServiceUnavailableException   503  the database stayed busy past its timeout

The wire shape (one handler in api/ renders it): header ``x-amzn-ErrorType: <name>`` and body
``{"__type": "<name>", "message": "<message>"}``; botocore resolves the code from the header.
"""

from __future__ import annotations


class AppMeshError(Exception):
    """Base of every error meshplane reports to a client."""

    status: int = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    @property
    def error_type(self) -> str:
        """The modelled shape name botocore and Terraform match on."""
        return type(self).__name__


class BadRequestException(AppMeshError):
    status = 400


class ForbiddenException(AppMeshError):
    status = 403


# Authentication and authorization failures (meshplane.auth): AWS's codes, all 403 like API Gateway
# answers them, never 5xx or 429 (SDKs would retry those). Subclasses of ForbiddenException so that
# code catching 403s sees them, while botocore reads the subclass name from x-amzn-ErrorType.


class MissingAuthenticationTokenException(ForbiddenException):
    pass


class IncompleteSignatureException(ForbiddenException):
    pass


class UnrecognizedClientException(ForbiddenException):
    pass


class InvalidSignatureException(ForbiddenException):
    pass


class ExpiredTokenException(ForbiddenException):
    pass


class AccessDeniedException(ForbiddenException):
    pass


class NotFoundException(AppMeshError):
    status = 404


class ConflictException(AppMeshError):
    status = 409


class ResourceInUseException(AppMeshError):
    status = 409


class LimitExceededException(AppMeshError):
    status = 400


class TooManyTagsException(AppMeshError):
    status = 400


class TooManyRequestsException(AppMeshError):
    status = 429


class InternalServerErrorException(AppMeshError):
    status = 500


class ServiceUnavailableException(AppMeshError):
    status = 503
