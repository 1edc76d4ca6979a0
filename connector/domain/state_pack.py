"""The US state rules pack smsync ships, on by default (`policy.state_rules.pack: us`).

Allowed texting hours in the recipient's local time where a state's telemarketing law is
stricter than the federal 08:00-21:00, no texts on Sundays or state holidays where the
law says so, and "3 per 24 hours on one subject" caps. Checked against the statutes as
summarised in public compliance guides (late 2025); this is no legal advice, and a plays
file may replace any state's rule or add one (`policy.state_rules.states`).

Notes kept with the data:
- RI: the statute's "hours of operation" are Mon-Fri 09:00-18:00 except state or federal
  holidays, Sat 10:00-17:00, and nothing on Sunday (R.I. Gen. Laws § 5-61-2).
- MS: 08:00-20:00 "Central Standard Time", none on Sunday; the ban on legal holidays went
  with the commission's rules in 2024 (Miss. Code § 77-3-723).
- LA: holidays per the state calendar of the `holidays` package, a superset of the
  commission's enforced list (stricter, never looser).
"""

from __future__ import annotations

from datetime import time, timedelta

from connector.domain.quiet_hours import ALL_DAYS, Window
from connector.domain.state_rules import StateRule, StateRules, SubjectCap

_WEEKDAYS = frozenset(range(5))
_MON_SAT = frozenset(range(6))
_SAT = frozenset({5})
_SUN = frozenset({6})
_THREE_A_DAY = SubjectCap(texts=3, per=timedelta(hours=24))


def _every_day(start: int, end: int) -> tuple[Window, ...]:
    return (Window(time(start), time(end), ALL_DAYS),)


US_PACK = StateRules(
    {
        "AL": StateRule(
            "AL",
            (Window(time(8), time(20), _MON_SAT),),
            holidays=True,
            law="Ala. Admin. Code r. 770-X-6-.16",
        ),
        "CT": StateRule("CT", _every_day(9, 20), law="Conn. Gen. Stat. § 42-288a"),
        "FL": StateRule(
            "FL", _every_day(8, 20), subject_cap=_THREE_A_DAY, law="Fla. Stat. § 501.616(6)"
        ),
        "KY": StateRule("KY", _every_day(10, 21), law="Ky. Rev. Stat. § 367.46955(15)"),
        "LA": StateRule(
            "LA",
            (Window(time(8), time(20), _MON_SAT),),
            holidays=True,
            law="La. R.S. 45:844.17",
        ),
        "MA": StateRule("MA", _every_day(8, 20), law="Mass. Gen. Laws ch. 159C § 3"),
        "MD": StateRule(
            "MD", _every_day(8, 20), subject_cap=_THREE_A_DAY, law="Md. Com. Law § 14-4503"
        ),
        "MI": StateRule("MI", _every_day(9, 21), law="Mich. Comp. Laws § 445.111b"),
        "MN": StateRule("MN", _every_day(9, 21), law="Minn. Stat. § 325E.27"),
        "MS": StateRule("MS", (Window(time(8), time(20), _MON_SAT),), law="Miss. Code § 77-3-723"),
        "NM": StateRule("NM", _every_day(9, 21), law="N.M. Stat. § 57-12-22"),
        "NV": StateRule("NV", _every_day(9, 20), law="Nev. Rev. Stat. § 228.590"),
        "OK": StateRule(
            "OK", _every_day(8, 20), subject_cap=_THREE_A_DAY, law="Okla. Stat. tit. 15 § 775C.4"
        ),
        "RI": StateRule(
            "RI",
            (Window(time(9), time(18), _WEEKDAYS), Window(time(10), time(17), _SAT)),
            holidays=True,
            law="R.I. Gen. Laws § 5-61-2",
        ),
        "TX": StateRule(
            "TX",
            (Window(time(9), time(21), _MON_SAT), Window(time(12), time(21), _SUN)),
            law="Tex. Bus. & Com. Code § 301.051",
        ),
    }
)
NO_PACK = StateRules({})
PACKS = {"us": US_PACK, "none": NO_PACK}
