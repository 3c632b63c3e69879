"""Publisher names, normalised: one name per publishing house, so the report's tables and the extraction quality per
publisher are not split across "Springer" / "Springer US" / "Springer Science and Business Media LLC".

Two steps. The rule, for any name: Unicode NFKC, white space collapsed, a parenthesised acronym dropped ("American
Chemical Society (ACS)"), then, repeatedly, a trailing legal form ("Inc.", "Ltd", "LLC", "GmbH", "B.V.", "AG",
"S.A.", "Co.", "Limited", "Corporation") or a trailing place ("UK", "US", "USA", "Berlin Heidelberg", "London",
"New York", an address's ", CA USA") removed, and a leading "The" dropped. Then the alias table: the families
whose imprints and legal entities appear in Crossref rows and in the papers' own metadata (Elsevier's Pergamon and
North-Holland, Springer Nature's Nature Publishing Group and BioMed Central, Wiley's Wiley-VCH and Blackwell,
Taylor & Francis's Informa UK), matched on the rule's result, case-insensitively (where an address was
removed, on the longest leading words that name a known house: the rest is its city). A name the table does not know
keeps the rule's result: never a guess, and normalising twice changes nothing (tested).
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# family -> the rule's results that belong to it (lowercase); extend here, with a test case
ALIASES = {
    "Elsevier": ["elsevier", "elsevier bv", "elsevier science", "elsevier masson", "pergamon", "north-holland", "academic press",
                 "cell press", "elsevier science publishers", "elsevier sequoia"],
    "Springer Nature": ["springer", "springer nature", "springer science and business media", "springer science+business media",
                        "springer-verlag", "springer verlag", "springer international publishing", "springer nature switzerland",
                        "springer netherlands", "nature publishing group", "nature portfolio", "biomed central", "nature research",
                        "macmillan publishers"],
    "Wiley": ["wiley", "john wiley & sons", "john wiley and sons", "wiley-vch", "wiley-vch verlag", "wiley-blackwell", "blackwell",
              "blackwell publishing", "wiley online library", "wiley periodicals"],
    "American Chemical Society": ["american chemical society", "acs", "acs publications"],
    "Royal Society of Chemistry": ["royal society of chemistry", "rsc", "rsc publishing"],
    "IOP Publishing": ["iop publishing", "institute of physics", "institute of physics publishing", "iop"],
    "American Physical Society": ["american physical society", "aps"],
    "AIP Publishing": ["aip publishing", "american institute of physics", "aip"],
    "Taylor & Francis": ["taylor & francis", "taylor and francis", "informa", "informa uk", "taylor & francis group", "routledge"],
    "MDPI": ["mdpi", "multidisciplinary digital publishing institute"],
    "Public Library of Science": ["public library of science", "plos"],
    "Frontiers": ["frontiers", "frontiers media"],
    "Oxford University Press": ["oxford university press", "oup"],
    "Cambridge University Press": ["cambridge university press", "cup"],
    "IEEE": ["ieee", "institute of electrical and electronics engineers"],
    "SAGE": ["sage", "sage publications"],
    "De Gruyter": ["de gruyter", "walter de gruyter"],
    "Hindawi": ["hindawi", "hindawi publishing corporation", "hindawi publishing"],
    "American Association for the Advancement of Science": ["american association for the advancement of science", "aaas"],
    "Trans Tech Publications": ["trans tech publications"],
}
_FAMILY = {alias: family for family, aliases in ALIASES.items() for alias in aliases}
_ACRONYM = re.compile(r"\s*\([A-Z&.\s-]{2,12}\)\s*$")
_LEGAL = re.compile(r"[,\s]+(inc|ltd|llc|gmbh|b\.?\s?v|ag|s\.?\s?a|co|limited|corporation|corp|plc|pty|sas|srl|kg|kgaa|oy|ab)\.?$",
                    re.IGNORECASE)
_PLACE = re.compile(r"[,\s]+(uk|us|usa|u\.s\.a|berlin heidelberg|berlin|heidelberg|london|new york|oxford|amsterdam|cham|"
                    r"basel|weinheim|dordrecht|singapore|tokyo|switzerland|germany|netherlands|the netherlands)\.?$", re.IGNORECASE)
_ADDRESS = re.compile(r",\s*[A-Z]{2}\s+USA$|,\s*(USA|UK|Germany|Switzerland|Netherlands|Japan|China)$")  # ", CA USA" ending an address
_DANGLING = re.compile(r"[\s,]*(&|and)$", re.IGNORECASE)


@lru_cache(maxsize=65536)
def normalise_publisher(name: str | None) -> str | None:
    """The publishing house's one name (see the module's docstring); None for no name."""
    if name is None:
        return None
    text = re.sub(r"\s+", " ", unicodedata.normalize("NFKC", str(name))).strip(" ,;")
    if not text:
        return None
    if text in ALIASES:  # already a family name
        return text
    addressed = False
    while True:  # trim to a fixed point, so that normalising the result again changes nothing
        addressed |= bool(_ADDRESS.search(text))
        shorter = _ADDRESS.sub("", _ACRONYM.sub("", text))
        shorter = _DANGLING.sub("", _PLACE.sub("", _LEGAL.sub("", shorter)))
        shorter = re.sub(r"^the\s+", "", shorter, flags=re.IGNORECASE).strip(" ,;")
        if shorter == text or not shorter:
            break
        text = shorter
    if text.lower() in _FAMILY:
        return _FAMILY[text.lower()]
    if addressed:  # "Public Library of Science San Francisco, CA USA": a known house followed by its city
        words = text.lower().split()
        for k in range(len(words) - 1, 0, -1):
            if " ".join(words[:k]) in _FAMILY:
                return _FAMILY[" ".join(words[:k])]
    return text or None
