"""Small string transformations that put realistic dirt into the demo records."""

from __future__ import annotations

_TRANSLIT = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "Ae", "Ö": "Oe", "Ü": "Ue", "ß": "ss",
                           "ı": "i", "ć": "c"})
_ASCII_EMAIL = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "Ä": "ae", "Ö": "oe", "Ü": "ue", "ß": "ss",
                              "ı": "i", "ć": "c", " ": "", "'": ""})


def transliterate(s: str) -> str:
    """Müller -> Mueller, Straße -> Strasse."""
    return s.translate(_TRANSLIT)


def email_ascii(s: str) -> str:
    return s.lower().translate(_ASCII_EMAIL)


def typo(s: str, u: int) -> str:
    """A plausible typing error, chosen by the integer u (swap, drop, double or replace a letter)."""
    if len(s) < 3:
        return s
    i = 1 + u % (len(s) - 2)
    kind = (u // 97) % 4
    if kind == 0:
        return s[:i] + s[i + 1] + s[i] + s[i + 2:]
    if kind == 1:
        return s[:i] + s[i + 1:]
    if kind == 2:
        return s[:i] + s[i] + s[i:]
    repl = {"e": "a", "a": "e", "i": "ie", "ie": "i", "t": "dt", "n": "nn", "m": "mm", "r": "rr", "s": "ß"}
    c = s[i]
    return s[:i] + repl.get(c, c + c) + s[i + 1:]


def street_variant(street: str, u: int) -> str:
    """Straße / Str. / Strasse / str. / strasse variants of a street name."""
    kind = u % 3
    if "Straße" in street:
        return street.replace("Straße", ("Str.", "Strasse", "Strasse")[kind] if kind else "Str.")
    if "straße" in street:
        return street.replace("straße", ("str.", "strasse", "str")[kind])
    if "Str." in street:
        return street.replace("Str.", "Straße")
    if "str." in street:
        return street.replace("str.", "straße")
    if "strasse" in street:
        return street.replace("strasse", "straße")
    return street


def phone_format(area: str, sub: str, style: int) -> str:
    """German phone number (area incl. leading 0, subscriber) in one of the common notations."""
    a = area[1:]
    if style == 0:
        return f"{area} {sub}"
    if style == 1:
        return f"+49{a}{sub}"
    if style == 2:
        return f"+49 {a} {sub}"
    if style == 3:
        return f"0049 {a} {sub}"
    if style == 4:
        return f"{area}/{sub}"
    if style == 5:
        return f"{area}-{sub}"
    if style == 6:
        return f"{area}{sub}"
    if style == 7:
        return f"({area}) {sub}"
    if style == 8:
        return f"+49 ({a}) {sub[:3]}-{sub[3:]}"
    if style == 9:
        return f"0049{a}{sub}"
    return f"{area} {sub[:3]} {sub[3:]}"


N_PHONE_STYLES = 11


def email_case_variant(e: str, u: int) -> str:
    if u % 3 == 0:
        return e.upper()
    local, _, dom = e.partition("@")
    parts = local.split(".")
    local = ".".join(p[:1].upper() + p[1:] for p in parts)
    return f"{local}@{dom.capitalize() if u % 3 == 2 else dom}"


def email_whitespace_variant(e: str, u: int) -> str:
    return (" " + e, e + " ", "  " + e + " ", e + "\t")[u % 4]


_OTHER_DOMAINS = ("web.de", "gmx.de", "gmail.com", "t-online.de", "gmx.net", "outlook.de", "yahoo.de")


def email_other_mailbox(e: str, u: int) -> str:
    """Another mailbox of the same person: other provider, or a numbered local part."""
    local, _, dom = e.partition("@")
    if u % 2 == 0:
        other = _OTHER_DOMAINS[(u // 2) % len(_OTHER_DOMAINS)]
        if other == dom:
            other = _OTHER_DOMAINS[((u // 2) + 1) % len(_OTHER_DOMAINS)]
        return f"{local}@{other}"
    return f"{local}{(u // 2) % 90 + 10}@{dom}"
