"""Consent by purpose: what an opt-out revokes.

Each play declares a purpose (`marketing`, `informational`, `transactional`, or one the
admin names in the plays file), and the consent ledger records opt-ins and opt-outs per
purpose; an entry without a purpose holds for every purpose.

`revocation_scope` says how far an opt-out reaches:

- `all` (the default, and the FCC's "revoke-all" rule due 31 January 2027): an opt-out by
  any reasonable means (a keyword, natural language, another language, a misspelling, a
  CRM field a person changed) revokes every purpose.
- `purpose`: an opt-out attributed to a play (a reply to a text from that play within
  `attribution_window`) revokes that play's purpose only. A carrier keyword (the whole
  reply is STOP, STOPALL, UNSUBSCRIBE, CANCEL, END, QUIT, REVOKE or OPTOUT, or the
  provider's own OptOutType) still revokes all: carriers and Twilio treat STOP as global
  and block every later text from the sender, whatever its purpose. An opt-out that no
  play explains (no text from a play within the window, a CRM field, a provider block)
  revokes all too.

The CRM keeps one consent field per record; it speaks for `marketing` (`CRM_PURPOSE`),
so an opt-out of every purpose or of marketing shows there, and an opt-out of another
purpose alone lives in the ledger and `smsync explain`. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum, unique

from connector.domain.keyword_vocabulary import DEFAULT_OPT_OUT

MARKETING = "marketing"
INFORMATIONAL = "informational"
TRANSACTIONAL = "transactional"
BUILTIN_PURPOSES = (MARKETING, INFORMATIONAL, TRANSACTIONAL)
CRM_PURPOSE = MARKETING  # what the CRM's single consent field means
DEFAULT_ATTRIBUTION_WINDOW = timedelta(hours=72)


@unique
class RevocationScope(StrEnum):
    ALL = "all"  # any opt-out revokes every purpose
    PURPOSE = "purpose"  # an opt-out attributed to a play revokes that play's purpose


@dataclass(frozen=True, slots=True)
class PurposePolicy:
    """How far an opt-out reaches. The admin's own purposes are checked where the plays
    file is loaded (`config.plays_loader`): a play names a known one or does not load."""

    scope: RevocationScope = RevocationScope.ALL
    attribution_window: timedelta = DEFAULT_ATTRIBUTION_WINDOW


def is_carrier_keyword(body: str) -> bool:
    """True when the whole reply is one of the carriers' opt-out keywords: the words a
    carrier or Twilio act on by themselves, for every text from the sender."""
    return body.strip().upper() in DEFAULT_OPT_OUT


@dataclass(frozen=True, slots=True)
class Revocation:
    """What one opt-out revokes: `purpose` None means every purpose, and why."""

    purpose: str | None
    why: str

    def describe(self) -> str:
        """For the decision log: 'revokes marketing (a reply to the play ...)'."""
        return f"revokes {self.purpose or 'every purpose'} ({self.why})"


def revoked(
    policy: PurposePolicy,
    *,
    body: str,
    provider_keyword: bool,
    attributed: tuple[str, str] | None,
) -> Revocation:
    """The reach of an opt-out reply. `attributed` is (play, purpose) of the latest text
    from a play to the number within the attribution window, if any; `provider_keyword`
    says the provider itself read the reply as STOP (its OptOutType)."""
    if policy.scope is RevocationScope.ALL:
        return Revocation(None, "revocation_scope all: an opt-out revokes every purpose")
    if provider_keyword or is_carrier_keyword(body):
        return Revocation(None, "a carrier keyword: carriers treat STOP as global")
    if attributed is None:
        window = _hours(policy.attribution_window)
        return Revocation(None, f"no text from a play within {window}: every purpose")
    play, purpose = attributed
    return Revocation(purpose, f"a reply to the play {play}: its purpose {purpose}")


def _hours(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours:g}h"
