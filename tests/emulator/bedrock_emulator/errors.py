"""Bedrock's error answers: the exception the handlers raise and how it is named on the wire.

Errors are answered like Bedrock: the status from the service model
(``shapes.<Name>.error.httpStatusCode``), header ``x-amzn-ErrorType: <Name>:<namespace URL>``
(``--plain-errortype`` sends just the name), ``x-amzn-RequestId``,
``content-type: application/json`` and body ``{"message": "..."}`` (see server.Handler._send_error).
"""

from __future__ import annotations

# Namespaces Bedrock appends to x-amzn-ErrorType ("ValidationException:http://...").
BEDROCK_ERROR_NAMESPACE = "http://internal.amazon.com/coral/com.amazon.bedrock/"
CORAL_ERROR_NAMESPACE = "http://internal.amazon.com/coral/com.amazon.coral.service/"
AUTH_ERRORS = {
    "MissingAuthenticationTokenException",
    "IncompleteSignatureException",
    "InvalidSignatureException",
    "UnrecognizedClientException",
}


class BedrockError(Exception):
    def __init__(self, status: int, name: str, message: str):
        super().__init__(message)
        self.status = status
        self.name = name
        self.message = message


def validation_error(message: str) -> BedrockError:
    return BedrockError(400, "ValidationException", message)

