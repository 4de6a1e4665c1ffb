"""Enhanced status codes (RFC 3463, IANA registry): tables and ``explain_enhanced``."""

from __future__ import annotations

import re
from typing import Any

from smtp_session.knowledge.models import EnhancedPart, load_enhanced

ENHANCED_CLASSES, ENHANCED_SUBJECTS, ENHANCED_DETAILS = load_enhanced()

# RFC 3463 §2: class "." subject "." detail; class is 2, 4 or 5, the others 1 to 3 digits.
_CODE = re.compile(r"^([245])\.(\d{1,3})\.(\d{1,3})$")


def enhanced_detail(subject: int, detail: int) -> EnhancedPart | None:
    """The registry entry X.subject.detail, if there is one."""
    return ENHANCED_DETAILS.get(f"X.{subject}.{detail}")


def explain_enhanced(code: str) -> dict[str, Any] | None:
    """Explain an enhanced status code like "5.1.1"; None if it is not one."""
    m = _CODE.match(code.strip()) if isinstance(code, str) else None
    if not m:
        return None
    klass, subject_n, detail_n = int(m.group(1)), int(m.group(2)), int(m.group(3))
    cls = ENHANCED_CLASSES[klass]
    subject = ENHANCED_SUBJECTS.get(subject_n)
    detail = enhanced_detail(subject_n, detail_n) if subject else None
    rfc = list(
        dict.fromkeys(
            [*cls.rfc, *(subject.rfc if subject else ()), *(detail.rfc if detail else ())]
        )
    )
    return {
        "code": f"{klass}.{subject_n}.{detail_n}",
        "class": cls.word,
        "class_title": cls.title,
        "subject": subject.title if subject else None,
        "detail": detail.title if detail else None,
        "known": detail is not None,
        "explanation": _success(subject, detail)
        if klass == 2
        else _explanation(cls, subject, detail, subject_n, detail_n),
        "rfc": rfc,
    }


def _success(subject: EnhancedPart | None, detail: EnhancedPart | None) -> str:
    """RFC 3463 §3.1: a 2.x.x code reports success; subject and detail only file it somewhere
    ("250 2.1.0 Ok" is a sender accepted, not "something about an address caused this")."""
    where = subject.title.lower() if subject else "no registered subject"
    what = f" ({detail.title})" if detail else ""
    return f"Success. The code files it under {where}{what}; nothing went wrong."


def _explanation(
    cls: EnhancedPart,
    subject: EnhancedPart | None,
    detail: EnhancedPart | None,
    subject_n: int,
    detail_n: int,
) -> str:
    if detail is not None:
        return detail.explanation
    if subject is None:
        # RFC 3463 §2 defines subjects 0-7 only: keep what the class tells us.
        return f"{cls.title}: {cls.explanation} Subject {subject_n} is not in the registry."
    return (
        f"{cls.title}, {subject.title.lower()}: {subject.explanation} "
        f"Detail {subject_n}.{detail_n} is not in the registry, so only the class and "
        "subject can be explained; the server's text may say more."
    )
