"""The built-in phrases of revocation (English, Spanish, French) and of help requests, as
regular expressions over a folded clause (lower case, no accents or apostrophes: "No me
envíes más" reads "no me envies mas", "don't" reads "dont").

Each names what it recognises; the decision log shows that name with the words matched.
Alternatives are written as space-separated words (`_` for a space inside one)."""

from __future__ import annotations

import re
from dataclasses import dataclass


def alt(words: str) -> str:
    """`"stop quit refrain_from"` -> `(?:stop|quit|refrain from)`."""
    return "(?:" + "|".join(w.replace("_", " ") for w in words.split()) + ")"


# The texts themselves: what a revocation asks to stop.
TEXT_NOUN = (
    r"(?:te?xts?|txts|msgs?|mess?[ae]ges?|"
    + alt(
        "sms texting messaging stuff spam promos? ads marketing notifications? alerts?"
        " reminders? updates? communications? mensajes textos"
    )
    + ")"
)
# Sending them, misspelled ("textng", "txting", "mesaging") or not; `send` apart, since
# "stop sending the invoice" is no revocation.
TEXT_VERB_NOT_SEND = (
    r"(?:te?xt(?:s|ing|in|ng|ig|ign|n)?|texing|msg(?:s|ing)?|msging|"
    r"mess?[ae]g(?:e|es|ing|in|eing)|sms(?:ing)?|contact(?:ing)?|spam(?:ming)?|"
    r"bother(?:ing)?|harass(?:ing)?|bugging|pestering|blowing up (?:my phone|me))"
)
TEXT_VERB = f"(?:{TEXT_VERB_NOT_SEND}|send(?:ing)?)"
LIST_NOUN = (
    r"(?:(?:texting|text|sms|mailing|contact|distribution|call|marketing)\s+)?"
    r"(?:lists?|database|system|program|campaign|texts|messages|msgs|sms|alerts|this|it)"
)
_DETS = r"(?:(?:your|ur|the|this|these|that|all|my|every|any|of)\s+)*"
_POLITE_END = r"(?:\s+" + alt("please pls plz now thanks thx asap already") + r")*\s*$"
_SEND_OBJECT = alt(
    "any_more anymore more these those your ur the any all this them that it stuff things"
    " anything nothing another"
)
_ES_SEND = alt(
    "envies envie envien mandes mande manden escribas escriba escriban contactes contacte"
    " contacten molestes moleste molesten enviar mandar escribir contactar molestar"
)


@dataclass(frozen=True, slots=True)
class Phrase:
    """A built-in pattern, searched in a folded clause."""

    name: str
    language: str
    pattern: re.Pattern[str]
    unsure: bool = False  # a complaint more than a request: opt out, and a person reviews


def _p(name: str, language: str, *parts: str, unsure: bool = False) -> Phrase:
    return Phrase(name, language, re.compile("".join(parts)), unsure)


PHRASES: tuple[Phrase, ...] = (
    # English
    _p(
        "stop_texting", "en",
        r"\b", alt("stop quit cease end halt refrain_from desist_from"), r"\s+",
        r"(?:", alt("all the these those your ur this with_the"), r"\s+)?",
        f"(?:{TEXT_VERB_NOT_SEND}|{TEXT_NOUN})", r"\b",
    ),
    _p(
        "stop_sending", "en",
        r"\b", alt("stop quit cease refrain_from"), r"\s+send(?:ing)?(?:\s+me)?",
        rf"(?:(?:\s+{_SEND_OBJECT})*\s+{TEXT_NOUN}\b|(?:\s+{_SEND_OBJECT})?{_POLITE_END})",
    ),
    _p(
        "dont_text_me", "en",
        r"\b", alt("dont do_not don_t never no"), r"\s+(?:ever\s+)?",
        r"(?:te?xt|txt|message|msg|contact|sms|bother)\s+",
        alt("me us this_number this_phone my_number again anymore here"), r"\b",
    ),
    _p(
        "dont_send_texts", "en",
        r"\b", alt("dont do_not never"), r"\s+send(?:ing)?\s+(?:me\s+)?",
        rf"(?:{_SEND_OBJECT}\s+)*(?:{TEXT_NOUN}|anything|again)\b",
    ),
    _p(
        "can_you_not_text", "en",
        r"\b", alt("can could would will"), r"\s+", alt("you u yall"),
        r"\s+(?:please\s+|pls\s+|just\s+)?not\s+(?:te?xt|txt|message|msg|contact)\b",
    ),
    _p(
        "lose_my_number", "en",
        r"\b", alt("lose delete remove erase forget drop take"), r"\s+",
        alt("my this the our"), r"\s+(?:phone\s+|cell\s+)?",
        alt("number num info information contact details data cell"), r"\b",
    ),
    _p(
        "remove_me", "en",
        r"\b", alt("remove take get drop delete unsubscribe unsub opt sign count"),
        r"\s+(?:me|us)",
        rf"(?:\s+(?:off|out|from|of)\s*(?:{_DETS}{LIST_NOUN}|{_DETS})?)?{_POLITE_END}",
    ),
    _p(
        "remove_at_end", "en",
        r"\b", alt("pls please plz just kindly interested thanks"), r"\s+remove", _POLITE_END,
    ),
    _p(
        "get_off_list", "en",
        r"\b", alt("get be take stay"), r"\s+(?:me\s+)?off\s+(?:of\s+)?",
        alt("this your ur the"), r"\s+(?:", alt("texting text sms mailing contact call"),
        r"\s+)?list\b",
    ),
    _p(
        "dont_want", "en",
        r"\b", alt("dont do_not don_t no_longer never not"), r"\s+",
        alt("want wish need like interested_in"), r"\s+(?:to\s+(?:receive|get|see)\s+)?",
        r"(?:", alt("any_more anymore any these your ur the more those this such further"),
        rf"\s+)*{TEXT_NOUN}\b",
    ),
    _p("no_more_texts", "en", rf"\bno\s+(?:more|further)\s+{TEXT_NOUN}\b"),
    _p(
        "enough_texts", "en",
        r"\benough\s+(?:(?:with|of)\s+)?(?:", alt("the these your ur all those"),
        rf"\s+)*{TEXT_NOUN}\b",
    ),
    _p("opt_out", "en", r"(?<!\ban )(?<!\bthe )(?<!\ba )\bopt\s*out\b"),
    _p(
        "how_to_unsubscribe", "en",
        r"\b", alt("how_do_i how_can_i i_want_to id_like_to i_would_like_to want_to wanna"),
        r"\s+", alt("unsubscribe unsub opt_out stop_this stop_these stop_them stop_it"), r"\b",
    ),
    _p(
        "blocking_number", "en",
        r"\b", alt("blocking block blocked reporting reported report"), r"\s+",
        alt("this your ur you the"), r"\s*(?:number|#|num|sender)?\b",
    ),
    _p(
        "reported_spam", "en",
        r"\b", alt("reported reporting report marked marking mark flagged flagging"),
        r"\s+(?:this\s+|you\s+|it\s+)?(?:as\s+)?spam\b",
    ),
    _p("this_is_spam", "en", r"\b", alt("this_is its this_s stop_the stop"), r"\s+spam\b"),
    _p("leave_me_alone", "en", r"\bleave\s+me\s+(?:alone|be)\b"),
    _p("cease_and_desist", "en", r"\bcease and desist\b"),
    _p("want_out", "en", r"\b(?:i|we)\s+want\s+out\b"),
    _p("done_with_texts", "en", r"\bdone with ", alt("these your the all"), rf"\s+{TEXT_NOUN}\b"),
    _p(
        "not_on_your_list", "en",
        r"\b", alt("not shouldnt should_not never"), r" be on ", alt("your ur this the any"),
        r" list\b",
    ),
    _p("make_it_stop", "en", r"\bmake (?:it|them|this) stop\b"),
    _p(
        "keep_texting_me", "en",
        r"\b(?:why|stop)\s+(?:do|are|does|did)?\s*", alt("you u yall you_guys"),
        rf"\s+(?:keep|still)\s+{TEXT_VERB}",
        unsure=True,
    ),
    # Spanish
    _p(
        "no_me_envies", "es",
        r"\bno\s+(?:me\s+)?(?:vuelvan?\s+a\s+|vuelvas\s+a\s+)?", _ES_SEND,
        r"\b(?:\s+(?:por favor\s+)?", alt("mas nada mensajes textos sms nunca"),
        r"\b|\s*(?:por favor)?\s*$)",
    ),
    _p(
        "ya_no", "es",
        r"\bya\s+no\s+(?:me\s+)?(?:",
        alt("escriban escribas envien envies manden mandes contacten molesten"),
        r"|quiero(?:\s+recibir)?(?:\s+mas)?\s+(?:mensajes|textos|sms))\b",
    ),
    _p(
        "no_quiero_mensajes", "es",
        r"\bno\s+(?:quiero|deseo)\s+(?:recibir\s+)?(?:mas\s+)?(?:sus\s+|tus\s+|estos\s+)?",
        alt("mensajes textos sms nada"), r"\b",
    ),
    _p(
        "dejen_de", "es",
        r"\b", alt("dejen deja deje dejar paren para pare"), r"\s+de\s+",
        alt(
            "enviarme mandarme escribirme contactarme molestarme enviar mandar escribir"
            " molestar recibir"
        ),
        r"\b",
    ),
    _p(
        "de_su_lista", "es",
        r"\b", alt("borr elimin sac quit remuev dar bajar"), r"\w*\s+de\s+",
        alt("su tu la esta sus"), r"\s+(?:lista|base)\b",
    ),
    _p(
        "darme_de_baja", "es",
        r"\b", alt("dar darme darnos dame denme deme darse doy"), r"\s+de\s+baja\b",
    ),
    _p(
        "borra_mi_numero", "es",
        r"\b", alt("borra borren borre borrar elimina eliminen elimine eliminar quita quiten"
                   " quite quitar"),
        r"\s+(?:mi|este)\s+(?:numero|telefono|celular)\b",
    ),
    _p(
        "no_mas_mensajes", "es",
        r"\b", alt("no_mas basta_de ya_basta_de"), r"\s+(?:mensajes|textos|sms)\b",
    ),
    _p(
        "cancelar_mensajes", "es",
        r"\b", alt("cancelar detener parar alto_a"), r"\s+(?:", alt("los las estos mis sus"),
        r"\s+)?", alt("mensajes textos sms suscripcion"), r"\b",
    ),
    # French
    _p("ne_menvoyez_plus", "fr", r"\bne\s+m(?:e\s+)?(?:envoy\w*|ecri\w*|contact\w*)\s+plus\b"),
    _p("desabonnez_moi", "fr", r"\b(?:desabonn\w*|desinscri\w*)\b"),
)  # fmt: skip
HELP_PHRASES: tuple[Phrase, ...] = (
    _p(
        "what_is_this_service", "en",
        r"\bwhat(?:s|\s+is|\s+are)\s+(?:this|these)\s+",
        alt("service texts? messages? program"), r"\b",
    ),
    _p("how_do_i_get_help", "en", r"\bhow\s+(?:do|can)\s+i\s+get\s+help\b"),
)  # fmt: skip
