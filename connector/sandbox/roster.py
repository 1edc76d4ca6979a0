"""The admin's people and queues, as the shipped mappings (`mappings/*.yaml`) name them:
routing team members and leads, a user who has left, and the queue that takes unowned
records' tasks. Seeded with the data, so the org the shipped files describe is the org
the sandbox serves, and `smsync mappings check` finds every id they name."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class RosterUser:
    id: str
    first_name: str
    last_name: str
    team: str
    active: bool = True

    @property
    def email(self) -> str:
        return f"{self.first_name.lower()}.{self.last_name.lower()}@acme.example"


@dataclass(frozen=True, slots=True)
class RosterQueue:
    id: str
    name: str
    developer_name: str


SALESFORCE_USERS = (
    RosterUser("005000000000001AAA", "Erin", "East", "East"),
    RosterUser("005000000000002AAA", "Eli", "Easton", "East"),
    RosterUser("005000000000003AAA", "Wes", "West", "West"),
    RosterUser("005000000000004AAA", "Willa", "Weston", "West"),
    RosterUser("005000000000005AAA", "Lee", "Left", "East", active=False),
    RosterUser("005000000000009AAA", "Lena", "Lead", "Sales"),
)
SALESFORCE_QUEUES = (
    RosterQueue("00G000000000001AAA", "SMS Follow-ups", "SMS_Follow_ups"),
    RosterQueue("00G000000000002AAA", "SMS Review", "SMS_Review"),
)
HUBSPOT_OWNERS = (
    RosterUser("1000001", "Fran", "Fallback", "Central"),
    RosterUser("1000002", "Cal", "Central", "Central"),
    RosterUser("1000003", "Cora", "Centre", "Central"),
    RosterUser("1000005", "Lee", "Left", "Central", active=False),
    RosterUser("1000009", "Lena", "Lead", "Central"),
)
