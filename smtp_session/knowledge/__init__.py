"""The one source of SMTP knowledge: commands, parameters, replies, enhanced codes, extensions.

The data lives in ``data/*.json`` (see docs/knowledge.md); this package loads it once into
typed, read-only records that the panels, the replay page, the explain API and tests share.
"""

from __future__ import annotations

from smtp_session.knowledge.command_line import CommandLine, parse_command, parse_params
from smtp_session.knowledge.ehlo import (
    AUTH_MECHANISMS,
    EXTENSIONS,
    Capability,
    explain_capability,
    explain_ehlo,
    human_size,
)
from smtp_session.knowledge.enhanced import (
    ENHANCED_CLASSES,
    ENHANCED_DETAILS,
    ENHANCED_SUBJECTS,
    explain_enhanced,
)
from smtp_session.knowledge.models import (
    AuthMechanism,
    Command,
    EnhancedPart,
    Extension,
    Parameter,
    ReplyCode,
    ReplyContext,
    load_commands,
    load_parameters,
)
from smtp_session.knowledge.replies import (
    REPLY_CODES,
    SPECIAL_CONTEXTS,
    normalize_after,
    reply_knowledge,
)

COMMANDS: dict[str, Command] = load_commands()
PARAMETERS: dict[str, Parameter] = load_parameters()


def command(verb: str) -> Command | None:
    """The COMMANDS entry for a verb, case-insensitively."""
    return COMMANDS.get(verb.strip().upper())


def reply_code(code: int) -> ReplyCode | None:
    """The REPLY_CODES entry for a code, if the table has one."""
    return REPLY_CODES.get(code)


def extension(keyword: str) -> Extension | None:
    """The EXTENSIONS entry for an EHLO keyword, case-insensitively."""
    return EXTENSIONS.get(keyword.strip().upper())


def parameter(name: str) -> Parameter | None:
    """The PARAMETERS entry for a MAIL/RCPT parameter name, case-insensitively."""
    return PARAMETERS.get(name.strip().upper())


def auth_mechanism(name: str) -> AuthMechanism | None:
    """The AUTH_MECHANISMS entry for a SASL name, case-insensitively."""
    return AUTH_MECHANISMS.get(name.strip().upper())


__all__ = [
    "AUTH_MECHANISMS",
    "COMMANDS",
    "ENHANCED_CLASSES",
    "ENHANCED_DETAILS",
    "ENHANCED_SUBJECTS",
    "EXTENSIONS",
    "PARAMETERS",
    "REPLY_CODES",
    "SPECIAL_CONTEXTS",
    "AuthMechanism",
    "Capability",
    "Command",
    "CommandLine",
    "EnhancedPart",
    "Extension",
    "Parameter",
    "ReplyCode",
    "ReplyContext",
    "auth_mechanism",
    "command",
    "explain_capability",
    "explain_ehlo",
    "explain_enhanced",
    "extension",
    "human_size",
    "normalize_after",
    "parameter",
    "parse_command",
    "parse_params",
    "reply_code",
    "reply_knowledge",
]
