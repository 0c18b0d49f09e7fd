"""Routing classifier: which staff should read a parent's message (contract section 8).

Deterministic and lexicon-based, no ML. A message in Bahasa Indonesia (chat spelling included)
or English is normalised, split into tokens, and every token gets an ordered list of forms:
as written, chat spelling fixed ("gk" -> "tidak"), "-nya" dropped, the PySastrawi stem, English
base forms ("bullied" -> "bully") and informal prefixes dropped ("dibully" -> "bully"). Multi-word
phrases ("tidak masuk", "uang komite", "kartu pelajar") are matched first over those forms and
use up their tokens, so "pelajar" in "kartu pelajar" is not read as "belajar". Each remaining token
scores with its first form found in the lexicon: the written form comes before the stem because
Sastrawi turns "menangis" into "menang" and "meninggal" into "tinggal".

The top category wins when its score reaches ``MIN_SCORE`` and beats the best category of another
group by ``MARGIN``; otherwise the message is unclear and the bot asks with buttons, which is
cheaper than sending a parent's worry to the wrong person. A subject from the school's list that
is named in the message is reported, and by itself points to ``academic``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

CATEGORIES = ("bullying", "behaviour", "emotions", "friendships", "family", "motivation",
              "study_career", "academic", "absence", "fees", "documents")
GROUPS: dict[str, tuple[str, ...]] = {
    "counseling": CATEGORIES[:7],
    "academic": ("academic",),
    "absence": ("absence",),
    "admin": ("fees", "documents"),
}
_GROUP_OF = {category: group for group, members in GROUPS.items() for category in members}
# "Lainnya": only ever chosen by the guardian, never by the router; it goes to the wali kelas.
_GROUP_OF["other"] = "other"

MIN_SCORE = 2.0      # one clear word ("izin", "dibully", "SPP") is enough, one weak word is not
MARGIN = 1.0         # over the best category of another group, else ask
SUBJECT_WEIGHT = 2.0  # a named subject alone means a learning question
MAX_TOKENS = 600     # a 4,000-character message has fewer; bounds the work on pasted text
MAX_STEM_LEN = 30    # longer "words" are noise (URLs, keyboard mashing); do not stem them


@dataclass(frozen=True)
class Classification:
    """Where a message should go; ``category`` and ``group`` are None when it is unclear."""

    category: str | None
    group: str | None
    subject: str | None
    confident: bool
    # Plain enough to take a guardian's message away from their open concern of another group
    # (handlers/concerns.same_topic): a confident route may still be too close a call for that.
    clear: bool = True


def group_of(category: str) -> str:
    """The staff group that answers a category: counseling, academic, absence or admin."""
    try:
        return _GROUP_OF[category]
    except KeyError:
        raise ValueError(f"unknown category: {category!r}") from None


# --- lexicon -------------------------------------------------------------------------------
# Terms are written in one of the forms a token can take (see _forms): Indonesian words as
# written or as their Sastrawi stem, English words in base form. Phrases are space-separated.
# Weights: 4 unmistakable, 3 strong, 2 usual, 1 a hint that needs company.
_LEXICON: dict[str, dict[str, float]] = {
    "bullying": {
        "bully": 4, "buli": 4, "bullying": 4, "rundung": 4, "palak": 4, "intimidasi": 3,
        "kucil": 3, "ejek": 3, "olok": 3, "hina": 2, "ledek": 2.5, "ancam": 3, "ngancam": 3,
        "keroyok": 3, "pukul": 2, "tendang": 2, "jahil": 2, "ganggu": 1.5, "disakiti": 2,
        "ketawa": 1.5, "ketawain": 1.5, "tertawakan": 1.5, "lebam": 1.5, "memar": 1.5,
        "kakak kelas": 1.5, "body shaming": 3, "bodyshaming": 3, "cyberbully": 4,
        "korban": 1.5, "katain": 3.5, "dikatain": 3.5, "ngatain": 3.5, "diolok": 3,
        "sembunyi": 2, "sembunyiin": 2, "paksa": 2.5, "sebar": 1.5, "jambak": 3, "dorong": 2,
        "cubit": 2, "ludah": 3, "rampas": 3, "lempar": 2, "sindir": 2, "fitnah": 3,
        "gosip": 2, "julukan": 2.5, "bodoh": 1.5, "goblok": 1.5, "diambil": 1,
        "kata katain": 3.5, "dipermalukan": 3, "diancam": 3, "diedit": 1.5, "kunci": 1,
        "tampar": 3, "gampar": 3, "jitak": 3, "toyor": 3, "tonjok": 2.5, "dirusak": 2.5,
        "dirusakin": 2.5, "ketawaan": 3, "bahan ketawaan": 4, "bahan tertawaan": 4,
        "bahan ejekan": 4, "peras": 3, "minta uang": 2, "dengan paksa": 3, "senioritas": 3,
        "plonco": 3, "dikerjain": 2.5, "iseng": 2, "diisengin": 2.5, "gencet": 3, "labrak": 3.5,
        "tindas": 4, "siksa": 3, "kekerasan": 3, "leceh": 4, "pelecehan": 4, "aniaya": 4,
        "teror": 3, "maki": 2.5, "bentak": 1.5, "dijauhin": 2, "disuruh suruh": 2.5,
        "robek": 2, "ditarik": 2, "juluk": 3, "julukin": 3, "dijulukin": 3, "dijulukan": 3,
        "ditendang": 2.5, "dipalakin": 4,
        # Harm the training messages named in words the list lacked (touching, being hit
        # against a wall, being beaten repeatedly): a child hurt is the counselor's first.
        "raba": 4, "meraba": 4, "diraba": 4, "raba raba": 4, "elus": 2, "dibenturkan": 4,
        "benturkan": 4, "dipukuli": 3.5, "memukuli": 3, "dikerjai": 2.5, "kerjai": 2.5,
        "tidak senonoh": 4, "senonoh": 3, "risih": 2,
        # English
        "bullied": 4, "pick on": 4, "picked on": 4, "picking on": 4, "tease": 3,
        "call names": 3, "called names": 3, "calling names": 3, "name calling": 3,
        "harass": 3, "threaten": 3, "intimidate": 3, "mean": 1.5, "beat up": 3, "push": 1,
        "hit": 1.5, "kick": 1.5, "mock": 3, "humiliate": 3, "cyberbullying": 4, "victim": 1.5,
        "shove": 2.5, "laugh at": 3, "laughing at": 3, "laughed at": 3, "make fun": 4,
        "made fun": 4, "making fun": 4, "rumour": 3, "rumor": 3, "punch": 2.5, "threat": 3,
        "gang up": 4, "ganged up": 4, "target": 1.5, "nickname": 2, "mean things": 3.5,
        "mean to": 3, "spit": 3, "pick on her": 4, "pick on him": 4, "cornered": 3,
        "nasty": 2.5, "nasty message": 3.5, "mean message": 3.5, "abuse": 2.5, "assault": 3,
        "harassment": 3.5, "extort": 3, "forced": 2, "slap": 3, "bruise": 2, "ridicule": 3,
        "taunt": 3, "insult": 3, "took his": 1, "took her": 1, "scratch": 2.5,
        "came home with": 1, "tripping": 3, "tripped": 2.5, "scratches": 2.5,
    },
    "behaviour": {
        "bolos": 4, "cabut": 1.5, "rokok": 4, "vape": 4, "bohong": 2.5, "kasar": 2.5,
        "lawan": 2, "berantem": 3.5, "kelahi": 3.5, "tawur": 4, "nakal": 2.5, "sita": 2,
        "hukum": 1.5, "skors": 3, "langgar": 2, "surat peringatan": 3, "poin": 1, "kabur": 2,
        "curi": 3, "candu": 2.5, "warnet": 2, "game": 1.5, "ngegame": 2, "main hp": 1.5,
        "ketahuan": 1.5, "sopan": 2, "disiplin": 1.5, "narkoba": 4, "miras": 4, "mabuk": 3,
        "pornografi": 4, "tengkar": 1.5, "ngomong kasar": 3, "bicara kasar": 3, "kata kotor": 3,
        "ikut ikutan": 1, "contek": 4, "mencontek": 4, "nyontek": 4, "keluar kelas": 2.5,
        "tanpa izin": 3, "jail": 2.5, "tegur": 2, "kelakuan": 2.5, "perilaku": 3, "sikap": 2,
        "rokok elektrik": 4, "panggil": 1, "surat panggilan": 2.5, "ribut": 1.5,
        "pelanggaran": 2.5, "nonton": 1, "begadang": 1.5, "tidur di kelas": 2.5,
        "tidak memperhatikan": 2.5, "nongkrong": 2.5, "pulang malam": 2.5, "keluyuran": 3,
        "geng motor": 4, "balap liar": 4, "balapan liar": 4, "ugal": 2, "tato": 2, "tindik": 2,
        "ambil barang": 3, "barang temannya": 2, "ambil uang": 3.5, "dilaporkan": 1.5,
        "berkata kasar": 3, "tidak sopan": 3,
        "membangkang": 3, "bangkang": 3, "susah diatur": 3, "ngeyel": 2.5, "main game": 2,
        "waktu pelajaran": 1, "saat pelajaran": 1, "jam pelajaran": 1, "nasehati": 2,
        "nasihati": 2, "dinasehati": 2, "dinasihati": 2, "pacaran": 3, "dibimbing": 1,
        "pulang telat": 3, "pulang terlambat": 3, "padahal tidak ada": 2.5, "bilangnya": 1.5,
        # English
        "fight": 3.5, "fought": 3.5, "skip school": 4, "skip class": 4, "cut class": 4,
        "truant": 4, "truancy": 4, "lie": 2.5, "lying": 2.5, "smoke": 3, "vaping": 4,
        "rude": 2.5, "disrespectful": 3, "misbehave": 3.5, "behaviour": 3.5, "behavior": 3.5,
        "detention": 3.5, "suspend": 3.5, "suspension": 3.5, "steal": 3, "stole": 3,
        "cheat": 3, "swear": 2.5, "aggressive": 2.5, "confiscate": 2.5, "punish": 2,
        "punishment": 2, "in trouble": 2, "discipline": 2, "talk back": 3, "principal": 1.5,
        "sent to the principal": 3, "principal office": 3, "vandal": 3, "vandalism": 3,
        "sneak out": 3, "snuck out": 3, "defiant": 3, "tantrum": 2.5, "screen time": 2,
        "video game": 2, "gaming": 2, "phone": 1, "attitude": 3, "warning letter": 3.5,
        "caught": 2, "plagiarism": 3, "copying": 1.5, "sent home": 2, "hang out": 1.5,
        "sneaking": 2, "disruptive": 3, "naughty": 2.5, "lie to": 2.5,
        "refusing to follow": 3, "follow rules": 2.5, "break rules": 3, "breaking rules": 3,
    },
    "emotions": {
        "menangis": 3, "nangis": 3, "tangis": 3, "sedih": 2.5, "murung": 3.5, "stres": 3.5,
        "stress": 3.5, "depresi": 4, "cemas": 4, "takut": 2, "trauma": 3.5, "panik": 3.5,
        "marah": 2, "emosi": 2, "emosian": 2.5, "galau": 2.5, "menyendiri": 2.5,
        "mengurung diri": 3, "kurung": 2, "putus asa": 3.5, "bunuh diri": 5,
        "ingin mati": 5, "mau mati": 5, "pengen mati": 5, "pingin mati": 5,
        "menghilang saja": 4, "ingin menghilang": 4, "tidak usah bangun": 4,
        "luka sayatan": 5, "sayatan": 4, "sayat": 3.5, "menyayat": 4,
        "melukai diri": 5, "menyakiti diri": 5, "self harm": 5, "sakit hati": 3,
        "capek hidup": 4, "cape hidup": 4, "tekan": 2, "minder": 3.5, "percaya diri": 3.5,
        "overthinking": 3.5, "mental": 2.5, "psikolog": 2.5, "kesepian": 2.5, "mood": 2.5,
        "moody": 2.5, "insecure": 3, "gelisah": 3, "sensitif": 2, "pendiam": 1.5,
        "terpukul": 3, "tidak mau cerita": 1.5, "baper": 2.5, "kecewa": 1.5,
        "diputusin": 1.5, "putus": 1, "deg degan": 3.5, "degdegan": 3.5, "lamun": 3,
        "ngelamun": 3, "melamun": 3, "susah tidur": 2.5, "tidak bisa tidur": 2.5,
        "insomnia": 2.5, "diam saja": 2, "diem aja": 2, "diam aja": 2, "diem": 1.5,
        "diam": 1.5, "ada masalah": 1.5, "masuk kamar": 1.5, "di kamar": 1.5,
        "tidak ceria": 3, "berubah": 1, "kejadian": 1, "malu": 1, "pemalu": 2,
        "mengeluh": 0.5, "curhat": 1.5, "konsultasi": 1, "guru bk": 2, "bk": 2,
        "menutup diri": 3, "tertutup": 2, "tersinggung": 3, "banting": 2.5,
        "membanting pintu": 3, "tidak mau makan": 3, "nafsu makan": 2.5, "merasa": 1,
        "tidak berguna": 4, "merasa bodoh": 3, "tidak berharga": 4, "kepikiran": 2.5,
        "beban": 2, "pede": 2, "tidak pede": 3, "rendah diri": 3.5, "ngambek": 2.5,
        "cengeng": 2.5, "kesal": 2, "frustasi": 3, "frustrasi": 3, "histeris": 3,
        "down": 1, "lagi down": 3, "merasa down": 3, "down banget": 3, "gagal": 1.5,
        "pemarah": 3, "mimpi buruk": 3, "takut gelap": 3, "murung terus": 3,
        "ngamuk": 3, "amuk": 3, "teriak": 1.5, "fobia": 3, "phobia": 3, "sensitive": 2,
        # English
        "sad": 2.5, "upset": 2.5, "anxious": 4, "anxiety": 4, "depressed": 4, "depression": 4,
        "cry": 3, "tear": 2, "stressed": 3.5, "scared": 2, "afraid": 2, "fear": 2,
        "panic": 3.5, "lonely": 2.5, "angry": 2, "anger": 2, "withdrawn": 3, "suicide": 5,
        "suicidal": 5, "hopeless": 3.5, "emotional": 3, "mental health": 3.5, "nervous": 2.5,
        "confidence": 3, "self esteem": 3, "overwhelmed": 3, "quiet": 1, "unhappy": 2.5,
        "worried": 1, "worry": 1, "talk to anyone": 1.5, "mood swings": 3,
        "panic attack": 4, "tearful": 3, "not herself": 3, "not himself": 3,
        "seem herself": 3, "seem himself": 3, "embarrassed": 1.5, "shy": 2, "taking it hard": 2,
        "can not sleep": 2.5, "not sleeping": 2.5, "sleeping well": 2, "trouble sleeping": 2.5,
        "nightmare": 2.5, "therapist": 2.5,
        "psychologist": 2.5, "self harming": 5, "cutting": 2, "isolate": 2.5,
        "hard time": 2.5, "appetite": 2.5, "not eating": 2.5, "eating disorder": 4,
        "worthless": 4, "feel stupid": 3, "feels stupid": 3, "gutted": 2.5, "heartbroken": 3,
        "meltdown": 3, "irritable": 3, "temper": 2.5, "outburst": 3, "struggling emotionally": 4,
        "feeling down": 3, "clingy": 3, "freeze": 1.5,
    },
    "friendships": {
        "teman": 1, "sahabat": 2.5, "musuh": 2.5, "musuhan": 3.5, "gaul": 3,
        "sendirian": 2, "sendiri": 1, "jauh": 1.5, "tidak punya teman": 4,
        "tidak ada teman": 4, "tidak ada yang mau main": 3, "tidak mau main": 2, "geng": 2,
        "circle": 2, "berteman": 3, "pertemanan": 3.5, "pacar": 1.5, "satu geng": 2,
        "main sama": 1, "temen": 1, "diajak main": 3, "tidak diajak": 3.5,
        "belum punya teman": 4, "saling sapa": 3, "tidak disapa": 3, "marahan": 3,
        "diaman": 2.5, "diem dieman": 3, "cari teman": 3, "dapat teman": 3, "sekelompok": 1,
        "sebangku": 2.5, "teman sebangku": 2.5, "tempat duduk": 1.5, "bergantung": 2.5,
        "satu teman": 1.5, "teman baru": 2.5, "tidak ada yang mau": 2.5, "dimusuhi": 3.5,
        "ditinggal teman": 3, "teman dekat": 2.5, "pilih pilih teman": 3, "dicuekin": 3,
        "cuekin": 3, "berbaur": 3, "persahabatan": 3.5, "tidak ada yang suka": 3,
        # English
        "friend": 2, "friendship": 3.5, "best friend": 3, "no friends": 4, "alone": 1.5,
        "left out": 3, "exclude": 2.5, "falling out": 4, "fall out": 4, "fell out": 4,
        "get along": 3, "socialize": 3, "socialise": 3, "peer": 1.5, "classmate": 1,
        "lunch alone": 2, "make friends": 4, "making friends": 4, "made friends": 3,
        "feels left out": 3, "sit alone": 2.5, "sits alone": 2.5,
        "nobody plays": 3, "no one plays": 3, "sit with": 2, "nobody wants": 3,
        "no one wants": 3, "best mate": 3, "mate": 1.5, "not talking": 2, "popular": 2,
        "fit in": 3, "new friends": 3, "friend group": 3.5, "nobody likes": 3.5,
        "no one likes": 3.5, "moved away": 1.5,
    },
    "family": {
        "cerai": 4, "pisah": 2.5, "suami": 1.5, "istri": 1.5, "kdrt": 5, "meninggal": 3,
        "wafat": 3, "duka": 3, "almarhum": 3, "almarhumah": 3, "kakek": 1.5, "nenek": 1.5,
        "broken home": 4, "masalah keluarga": 3.5, "keluarga": 1.5, "tengkar": 1.5,
        "tiri": 2.5, "hak asuh": 4, "luar kota": 1.5, "merantau": 2, "tkw": 2.5, "tki": 2.5,
        "phk": 2, "kondisi rumah": 3, "kondisi di rumah": 3, "di rumah sedang": 1.5,
        "orang tua": 0.5, "ayahnya": 0.5, "ibunya": 0.5, "adik baru": 2, "tinggal sama": 1.5,
        "tinggal dengan": 1.5, "tinggal bersama": 1.5, "melahirkan": 2.5, "single parent": 4,
        "orang tua tunggal": 4, "ditinggal": 2, "sendiri di rumah": 2, "papanya": 0.5,
        "mamanya": 0.5, "suami saya": 1, "istri saya": 1, "sakit keras": 2,
        "meninggal dunia": 3.5, "ayah tiri": 3, "ibu tiri": 3, "poligami": 3, "selingkuh": 3,
        "kebakaran": 2.5, "rumah kami": 1.5, "musibah": 2, "keluarga kami": 2,
        "masalah ekonomi": 3, "ekonomi": 1.5, "sekeluarga": 2, "asuh": 2, "mengasuh": 2,
        "diasuh": 2, "ayah ibunya": 1, "bapaknya": 0.5, "di penjara": 3, "dipenjara": 3,
        "lahiran": 2.5, "keguguran": 3, "sakit parah": 2.5, "pindah rumah": 2.5,
        "tante": 1.5, "om": 1, "paman": 1.5, "bibi": 1.5, "tidak tinggal bersama": 3.5,
        "tidak tinggal": 2.5, "dimarahi": 1.5, "dimarahi bapaknya": 3, "dimarahi ayahnya": 3,
        "dimarahi ibunya": 3, "icu": 2,
        # English
        "divorce": 4, "divorced": 4, "separated": 3, "separation": 3, "passed away": 4,
        "died": 3, "death": 3, "funeral": 3, "grandmother": 1.5, "grandfather": 1.5,
        "grandma": 1.5, "grandpa": 1.5, "family": 1.5, "home situation": 3.5,
        "custody": 4, "stepfather": 2.5, "stepmother": 2.5, "domestic": 2.5, "new baby": 2,
        "grief": 3, "grieve": 3, "going through": 1, "lost his job": 2, "lost her job": 2,
        "at home": 0.5, "single mom": 4, "single mother": 4, "single dad": 4,
        "single father": 4, "fire": 2, "lost our home": 3.5, "relative": 2, "staying with": 1.5,
        "moved in with": 2, "homeless": 3.5, "evicted": 3.5, "her father and i": 2,
        "his father and i": 2, "her mother and i": 2, "his mother and i": 2, "new sibling": 2,
        "baby brother": 2, "baby sister": 2, "passed": 1, "loss": 2, "cancer": 2,
        "my husband": 2, "my wife": 2, "husband": 1.5, "wife": 1.5, "raising the kids": 3,
        "difficult at home": 3.5, "hard at home": 3.5, "home life": 3,
        "prison": 3, "jail": 2.5, "deployed": 2.5, "moved out": 2.5, "separate": 2.5,
        "two homes": 3, "splitting time": 2, "diagnosed": 2.5, "lives with us": 1.5,
    },
    "motivation": {
        "malas": 4, "males": 4, "mager": 4, "semangat": 3, "motivasi": 4, "termotivasi": 4,
        "tidak mau sekolah": 3.5, "mogok sekolah": 4, "tidak mau belajar": 3.5,
        "dibangunin": 1.5, "bangunin": 1.5, "susah bangun": 1.5, "tidak penting": 2.5,
        "disuruh belajar": 2.5, "mau belajar": 1.5, "rajin": 0.5, "bosan": 2.5, "bosen": 2.5,
        "cuek": 1.5, "ogah": 2.5, "mau kerja aja": 2, "tidak fokus": 1.5, "putus sekolah": 4,
        "berhenti sekolah": 4, "percuma": 3, "tidak peduli": 3, "rajin belajar": 2,
        "cuma tidur": 2, "tidur terus": 2, "alasan": 2, "pura pura": 3,
        "biar tidak sekolah": 3.5, "supaya tidak sekolah": 3.5, "padahal sehat": 3,
        "tidak mau berangkat": 3, "tidak mau ke sekolah": 3.5, "tidak mau ngerjain": 2.5,
        "ngerjain apa apa": 2, "semaunya": 1.5, "tidak niat": 3, "ogah ogahan": 3,
        "capek sekolah": 3, "ingin berhenti": 3, "berhenti": 1.5, "tidak ada semangat": 4,
        "kurang semangat": 4, "tidak semangat": 4, "hp terus": 2, "main terus": 2,
        "minat belajar": 3, "tidak ada minat": 3.5, "tidak pernah ngerjain": 2.5,
        "tidak peduli sekolah": 4, "tidak serius": 2.5, "asal asalan": 2.5,
        # English
        "motivation": 4, "motivated": 4, "unmotivated": 4, "lazy": 4, "lost interest": 4,
        "interest": 1, "pointless": 3, "bored": 2.5, "boring": 2.5, "give up": 2.5,
        "effort": 1.5, "procrastinate": 3, "hate school": 3.5, "hates school": 3.5,
        "refuse": 2, "will not study": 3, "does not want to study": 3, "drop out": 3.5,
        "does not care": 4, "do not care": 3.5, "care about school": 3.5, "not interested": 3,
        "gave up": 3, "no effort": 3, "fake sick": 3.5, "pretend": 2, "school refusal": 4,
        "will not go to school": 3.5, "does not want to go": 3, "apathetic": 3,
        "see the point": 3, "no point": 3, "will not do": 2, "any work": 1, "no interest": 3,
        "lack of motivation": 4, "switched off": 3, "bother with school": 3.5,
        "should bother": 2, "why bother": 3,
    },
    "study_career": {
        "jurusan": 4, "jurus": 4, "kuliah": 4, "kampus": 3, "universitas": 4,
        "perguruan tinggi": 4, "snbp": 4, "snbt": 4, "sbmptn": 4, "utbk": 4, "ptn": 4,
        "pts swasta": 2, "beasiswa": 2.5, "karier": 4, "karir": 4, "cita": 3, "profesi": 2.5,
        "lanjut": 1.5, "tertarik": 1, "smk": 2, "sma": 1, "peminatan": 3.5, "bakat": 2.5,
        "minat bakat": 4,
        "tes minat": 4, "kedokteran": 2.5, "programmer": 2, "masa depan": 2.5, "saran": 1,
        "bingung": 0.5, "cocok": 1, "fakultas": 4, "teknik": 2, "teknik sipil": 4, "itb": 3,
        "ugm": 3, "ui": 2, "ipb": 3, "unpad": 3, "undip": 3, "unair": 3, "pesantren": 2.5,
        "pondok": 2.5, "setelah lulus": 2.5, "lulus smp": 2.5, "lulus sd": 2.5,
        "lulus sma": 2.5, "kedinasan": 4, "sekolah kedinasan": 4, "akpol": 3, "akmil": 3,
        "ipdn": 3, "stan": 2, "pendaftaran": 1, "ppdb": 2.5, "spmb": 2.5, "lanjut sekolah": 3,
        "sekolah lanjutan": 3, "ambil apa": 1.5, "daftar kuliah": 4, "psikotes": 3,
        "bimbingan karir": 4, "tugas dari bk": 6, "tugas bk": 6, "dari bk": 3,
        "mau jadi": 2.5, "ingin jadi": 2.5, "ingin masuk": 1.5,
        "pelayaran": 2.5, "daftar sekolah": 2.5, "rekomendasi sekolah": 3, "cocok masuk": 2.5,
        "ipa atau ips": 4, "ips atau ipa": 4, "masuk ipa": 3, "masuk ips": 3,
        "masuk sma": 2.5, "masuk smk": 2.5, "masuk smp": 2.5, "desainer": 2,
        "lanjut ke": 2, "politeknik": 3, "akademi": 2.5, "d3": 2,
        "s1": 2, "passing grade": 3.5,
        # English
        "university": 4, "college": 3.5, "major": 3, "career": 4, "future": 1.5,
        "after graduation": 2.5, "scholarship": 2.5, "vocational": 3, "degree": 2,
        "study abroad": 3, "counselor": 1, "counsellor": 1, "advise": 1, "advice": 1,
        "option": 1, "engineer": 3, "be a doctor": 3.5, "be an engineer": 3.5,
        "wants to be": 2.5, "wants to become": 3, "which subjects should": 3,
        "career path": 4, "admission": 2.5, "entrance exam": 3.5, "boarding school": 2.5,
        "high school": 1.5, "gap year": 3.5, "internship": 3, "get into medicine": 4,
        "a level": 3, "get into": 1.5, "overseas": 1, "apply for university": 4,
        "study medicine": 4, "careers": 4, "which school": 2,
    },
    "academic": {
        "nilai": 2.5, "ulangan": 3, "ujian": 2.5, "uji": 2.5, "tes": 1.5, "uts": 3, "uas": 3,
        "pts": 2.5, "sts": 3, "sas": 3, "pat": 2, "asesmen": 3, "sumatif": 3, "formatif": 3,
        "remedial": 4, "remed": 4, "perbaikan nilai": 3, "perbaikan": 1.5, "tugas": 2.5,
        "pr": 3, "pekerjaan rumah": 3.5, "pelajaran": 2.5, "ajar": 1.5, "les": 2.5,
        "materi": 2.5, "paham": 2, "mengerti": 2, "erti": 2, "ngerti": 2, "sulit": 1.5,
        "kkm": 3, "tuntas": 2, "ranking": 2.5, "peringkat": 2.5, "naik kelas": 3.5,
        "tinggal kelas": 4, "baca": 2, "membaca": 2, "tulis": 1.5, "hitung": 2,
        "kurikulum": 2, "bimbel": 2.5, "hafal": 2.5, "hafalan": 2.5, "praktikum": 2.5,
        "proyek": 2, "projek": 2, "p5": 2.5, "presentasi": 2, "kumpul": 1.5, "jadwal": 1,
        "mapel": 2.5, "mata pelajaran": 2.5, "kelas tambahan": 2.5, "pengayaan": 3,
        "tertinggal": 1.5, "jelek": 1, "nilai rapor": 3, "bagi rapor": 3, "ambil rapor": 2,
        "terima rapor": 3, "rapor": 1.5, "hasil ujian": 3, "olimpiade": 1.5, "nilai turun": 1,
        "guru les": 2.5, "kosong": 0.5, "pe er": 3, "susulan": 3.5, "ulangan susulan": 4,
        "ujian susulan": 4, "ketinggalan pelajaran": 3.5, "lks": 3, "buku paket": 2,
        "kerja kelompok": 2.5, "tugas kelompok": 3, "nilai harian": 3, "terancam": 0.5,
        "tidak naik kelas": 4, "belajar tambahan": 2.5, "penjelasan": 1, "nilai sikap": 3.5,
        "kisi kisi": 3.5, "latihan soal": 3, "soal ujian": 3, "soal ulangan": 3, "jawaban": 1,
        "modul": 2.5,
        "diajari": 2, "dijelaskan": 1.5, "dijelaskan lagi": 2.5, "lancar": 1.5,
        "ujian sekolah": 3, "persiapan ujian": 3, "try out": 3, "tryout": 3,
        "jadwal pas": 3, "pas semester": 2.5, "ujian praktek": 3, "ujian praktik": 3,
        "batas pengumpulan": 3, "pengumpulan": 2,
        # English
        "grade": 2.5, "mark": 2.5, "score": 2.5, "exam": 2.5, "test": 1.5, "quiz": 2.5,
        "homework": 4, "assignment": 3.5, "project": 2, "remedial test": 4, "retake": 3,
        "tutor": 2.5, "tutoring": 2.5, "lesson": 2, "subject": 1.5, "learn": 1.5,
        "study": 1.5, "struggle": 1.5, "understand": 1.5, "reading": 2, "writing": 1.5,
        "fall behind": 3.5, "falling behind": 3.5, "curriculum": 2, "report card": 2,
        "fail": 2, "failing": 2, "repeat the year": 3.5, "rank": 2, "low mark": 3,
        "low grade": 3, "topic": 2, "extra help": 3, "worksheet": 3, "textbook": 2,
        "study guide": 3, "syllabus": 3, "spelling": 2, "tuition class": 3,
        "parent teacher": 1.5, "progress": 1.5, "grading": 2.5, "marked": 2, "revise": 2.5,
        "revision": 2.5, "essay": 2.5, "handed in": 2.5, "hand in": 2.5, "paper": 1,
        "page": 1, "coursework": 3, "mock exam": 3, "result": 1.5, "resit": 4,
        "makeup test": 4, "make up test": 4, "criteria": 2, "rubric": 3,
    },
    "absence": {
        "izin": 3.5, "sakit": 3, "tidak masuk": 4, "tidak bisa masuk": 4, "tidak sekolah": 3,
        "tidak bisa sekolah": 4, "tidak hadir": 4, "tidak bisa hadir": 4, "absen": 3.5,
        "alpa": 3.5, "alfa": 3.5, "hadir": 1.5, "kehadiran": 3, "demam": 3, "flu": 2.5,
        "batuk": 2.5, "pilek": 2.5, "tipes": 3, "tifus": 3, "diare": 3, "muntah": 2.5,
        "opname": 3.5, "rawat": 2, "rumah sakit": 3, "dokter": 2, "surat dokter": 3.5,
        "surat sakit": 4, "surat keterangan sakit": 5, "surat keterangan dokter": 5,
        "kontrol": 1.5, "terlambat": 3, "telat": 3, "pulang cepat": 4,
        "pulang lebih awal": 4, "pulang awal": 4, "jemput lebih awal": 3,
        "acara keluarga": 3.5, "nikahan": 2.5, "pernikahan": 2, "kondangan": 2.5,
        "mudik": 2.5, "pulang kampung": 3, "libur": 1, "cuti": 2.5, "umroh": 2.5,
        "celaka": 2.5, "sakit perut": 3, "dimaklumi": 1, "enak badan": 4,
        "kurang enak badan": 4, "tidak enak badan": 4, "istirahat di rumah": 3.5,
        "istirahat dulu": 2, "patah": 2, "berobat": 3, "periksa": 1.5, "rawat inap": 4,
        "gejala": 1.5, "pusing": 1.5, "cacar": 3, "dbd": 3, "sesak": 2, "operasi": 2,
        "khitan": 3, "sunat": 3, "sunatan": 3, "keperluan keluarga": 3.5,
        "urusan keluarga": 3.5, "dispensasi": 3, "ikut keluarga": 3, "mohon izin": 4,
        "minta izin": 4, "izin tidak masuk": 5, "sakit gigi": 3, "pulang duluan": 3,
        "guru piket": 2, "ban bocor": 2.5, "bocor": 1, "macet": 2, "kesiangan": 3,
        "tidak bisa berangkat": 3.5, "belum bisa masuk": 4, "belum bisa sekolah": 4,
        "izin tidak ikut": 4.5, "tidak ikut": 1.5, "terkilir": 2.5, "keseleo": 2.5,
        "cedera": 2.5, "vaksin": 2.5, "imunisasi": 2.5, "banjir": 2, "masuk agak siang": 3,
        # English
        "absent": 4, "absence": 4, "sick": 3.5, "ill": 3.5, "fever": 3.5, "cough": 2.5,
        "doctor": 2, "hospital": 3, "appointment": 2.5, "excuse": 2.5, "late": 2,
        "leave early": 4, "pick up early": 3.5, "miss school": 4, "missed school": 4,
        "missing school": 4, "stay home": 3.5, "staying home": 3.5, "not coming": 3.5,
        "will not be in": 3, "day off": 3, "attendance": 3.5,
        "vomit": 3, "wedding": 2.5, "covid": 3, "injured": 2, "unwell": 3.5,
        "stomach bug": 4, "stomach ache": 3, "stomachache": 3, "keep her home": 4,
        "keep him home": 4, "keeping her home": 4, "keeping him home": 4,
        "under the weather": 4, "not feeling well": 4, "feeling unwell": 4, "headache": 2.5,
        "migraine": 2.5, "rest at home": 3, "family trip": 2, "family emergency": 3,
        "chickenpox": 3, "dentist": 2.5, "surgery": 2, "caught a cold": 3.5, "miss": 1.5,
        "will miss": 3.5, "travel": 2, "travelling": 2, "traveling": 2, "overslept": 3.5,
        "oversleep": 3.5, "be in by": 2.5, "running late": 3,
        "temperature": 2.5, "high temperature": 3.5, "leave of absence": 4, "days off": 3,
        "not be in": 3, "not be at school": 3.5, "away from school": 3, "be off": 3,
        "dental": 2.5, "pick her up": 1.5, "pick him up": 1.5,
    },
    "fees": {
        "uang": 2, "bayar": 3.5, "spp": 4, "komite": 3, "uang komite": 4, "biaya": 3.5,
        "tunggak": 4, "tunggakan": 4, "cicil": 3.5, "transfer": 1.5, "tunai": 3,
        "lunas": 3.5, "iuran": 3.5, "sumbang": 2.5, "uang gedung": 4, "daftar ulang": 2,
        "seragam": 1.5, "uang buku": 3, "kwitansi": 3.5, "kuitansi": 3.5, "bukti bayar": 4,
        "bukti transfer": 4, "rekening": 3, "virtual account": 3.5, "keringanan": 3,
        "ringan": 1, "tagih": 3.5, "denda": 2.5, "harga": 2, "mahal": 2, "study tour": 3,
        "tabung": 2, "kip": 2, "pip": 2, "dana bos": 2, "gratis": 1.5, "berapa": 0.5,
        "tidak mampu": 2, "nominaluang": 3, "rp": 3, "konfirmasi": 1, "potongan": 2,
        "diskon": 2.5, "uang kegiatan": 4, "uang ekstrakurikuler": 4, "sanggup": 1,
        "tidak sanggup bayar": 4, "gajian": 2, "uang pangkal": 4, "angsur": 3, "lunasi": 3.5,
        "qris": 3.5, "uang perpisahan": 4, "iuran kelas": 4,
        # English
        "fee": 4, "pay": 3.5, "paid": 3.5, "payment": 4, "tuition": 4, "installment": 4,
        "instalment": 4, "invoice": 4, "bill": 2.5, "receipt": 3, "bank transfer": 4,
        "cost": 3, "how much": 2.5, "price": 2.5, "refund": 3.5, "money": 1.5,
        "discount": 2.5, "afford": 3, "overdue": 3, "committee fee": 4, "charge": 3,
        "breakdown": 1, "due": 1.5, "deposit": 2.5, "balance": 1.5, "outstanding": 2,
        "cash": 2.5, "trip money": 3,
    },
    "documents": {
        "ijazah": 5, "legalisir": 5, "surat keterangan": 3.5, "surat pindah": 5,
        "pindah sekolah": 3.5, "pindah": 1.5, "mutasi": 3.5, "kartu pelajar": 5, "nisn": 3.5,
        "dapodik": 3.5, "akta": 3.5, "akte": 3.5, "kartu keluarga": 3.5, "fotokopi": 2.5,
        "salinan": 2.5, "skl": 4, "surat keterangan lulus": 5, "surat rekomendasi": 4,
        "sertifikat": 3, "piagam": 2.5, "transkrip": 4, "cetak ulang": 3.5,
        "dicetak ulang": 3.5, "rusak": 2, "hilang": 1.5, "rapor hilang": 4,
        "hilang rapor": 4, "rapor rusak": 4, "legalisir rapor": 5, "data": 1.5,
        "salah ketik": 3, "salah tulis": 3, "perbaikan data": 4, "visa": 2, "paspor": 2,
        "dokumen": 3.5, "berkas": 3, "stempel": 2.5, "cap": 1.5, "tanda tangan": 2,
        "nomor induk": 3.5, "buku induk": 3.5, "surat": 1, "aktif sekolah": 3, "bpjs": 1.5,
        "surat aktif": 4, "rapor asli": 3, "tunjangan": 2, "tanggal lahir": 2.5,
        "salah tanggal": 3, "diperbaiki": 1, "pindahkan": 2, "sekolah lain": 2,
        "kartu identitas": 3, "surat baik": 3, "surat kelakuan baik": 4, "skhun": 4,
        # English
        "certificate": 4, "diploma": 4.5, "transcript": 4.5, "transfer letter": 5,
        "letter": 2.5, "document": 3.5, "copy": 2, "certified": 2.5, "enrollment": 2,
        "enrolment": 2, "record": 2, "student card": 4, "id card": 3.5,
        "birth certificate": 4, "passport": 2, "stamp": 2, "signature": 1.5,
        "moving abroad": 2, "change school": 3, "new school": 1.5, "original": 2.5,
        "lost": 1.5, "reference letter": 4, "recommendation letter": 4,
        "letter of recommendation": 4, "send me a copy": 3, "school records": 4,
        "proof of enrollment": 4, "proof of enrolment": 4, "reissue": 3.5, "student id": 4,
        "official letter": 4, "embassy": 2.5, "enrolled": 1.5, "translation": 3,
        "translated": 3, "terjemahan": 3, "diterjemahkan": 3,
    },
}

# Phrases that mean nothing for routing but would otherwise score through their words.
_NEUTRAL_PHRASES = (
    "uang jajan", "maaf mengganggu", "mau tanya", "mohon maaf", "minta maaf", "wali kelas",
    "good morning", "thank you", "selamat pagi", "selamat siang", "selamat sore",
    "selamat malam", "terima kasih", "can i ask", "right number", "keep an eye",
)

# Chat spelling and short forms -> the word the lexicon knows (may be several words).
_SLANG: dict[str, str] = {
    **dict.fromkeys(("gk", "ga", "gak", "nggak", "ngga", "enggak", "engga", "g", "tdk", "tak",
                     "ndak", "nda", "kagak", "ora", "gag", "gx"), "tidak"),
    **dict.fromkeys(("sy", "sya", "aku", "aq", "gw", "gue"), "saya"),
    **dict.fromkeys(("udh", "udah", "sdh", "dah", "uda"), "sudah"),
    **dict.fromkeys(("blm", "blum", "belom"), "belum"),
    **dict.fromkeys(("krn", "karna", "krna", "soalnya"), "karena"),
    **dict.fromkeys(("temen", "tmn", "tmen", "temen2"), "teman"),
    **dict.fromkeys(("raport", "rapot", "raportnya", "rapotnya", "raprt"), "rapor"),
    **dict.fromkeys(("ijin", "ijn"), "izin"),
    **dict.fromkeys(("gmn", "gimana", "gmana"), "bagaimana"),
    **dict.fromkeys(("skrg", "skrng", "skg"), "sekarang"),
    **dict.fromkeys(("sklh", "skolah", "sekolh", "skul", "sakolah"), "sekolah"),
    **dict.fromkeys(("pengen", "pgn", "pingin", "pengin"), "ingin"),
    **dict.fromkeys(("bgt", "bngt", "bener2"), "banget"),
    **dict.fromkeys(("cape", "capek", "cpk"), "capek"),
    "yg": "yang", "dgn": "dengan", "dg": "dengan", "utk": "untuk", "tgs": "tugas",
    "kls": "kelas", "ortu": "orang tua", "org": "orang", "dr": "dari",
    "tp": "tapi", "tpi": "tapi", "jg": "juga", "lg": "lagi", "sm": "sama",
    "brantem": "berantem", "brentem": "berantem",
    "dibuli": "dibully", "ngebully": "dibully", "ngebuli": "dibully", "bullyan": "bully",
    "remidi": "remedial", "remid": "remedial", "ngelawan": "melawan", "nyontek": "mencontek",
    "males2an": "males", "murid": "siswa", "ijasah": "ijazah", "legalisasi": "legalisir",
    "kmrn": "kemarin", "bsk": "besok", "hr": "hari", "mlm": "malam", "pls": "please",
    "u": "you", "ur": "your", "pr2": "pr", "hw": "homework",
}

# Informal verb prefixes and suffixes that Sastrawi leaves on loanwords and slang:
# "dibully", "ngegame", "diketawain", "dicuekin".
_INFORMAL_PREFIXES = ("nge", "di", "ke", "ter", "ng")
_INFORMAL_SUFFIXES = ("in",)

_TOKEN_RE = re.compile(r"[a-z0-9]+")
_REDUP_RE = re.compile(r"\b([a-z]{2,})2(nya|an)?\b")  # "teman2nya" -> "teman temannya"
_MONEY_RE = re.compile(
    r"(?:\brp\.?\s?\d[\d.,]*|\$\s?\d[\d.,]*|\b\d[\d.,]*\s?(?:rb|ribu|k|jt|juta|rupiah)\b)")
_CONTRACTIONS = (("won't", "will not"), ("can't", "can not"), ("shan't", "shall not"),
                 ("n't", " not"), ("'ll", " will"), ("'re", " are"), ("'ve", " have"),
                 ("'m", " am"), ("'d", " would"), ("'s", ""), ("'", ""))


def _expand_english(text: str) -> str:
    """Contractions and possessives: "won't" -> "will not", "son's" -> "son"."""
    if "'" not in text:
        return text
    for short, full in _CONTRACTIONS:
        text = text.replace(short, full)
    return text


# --- subjects ------------------------------------------------------------------------------
# Aliases by family. A school's subject belongs to a family when its own name is one of the
# family's names; the family's aliases then point at the school's spelling.
_SUBJECT_FAMILIES: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    # family: (names that identify the school's subject, extra aliases found in messages)
    "matematika": (("matematika", "math", "maths", "mathematics", "mtk", "matematika wajib"),
                   ("mtk", "matematika", "math", "maths", "mathematics", "matika", "algebra",
                    "geometry", "calculus", "aljabar", "geometri", "fractions", "trigonometri",
                    "pecahan", "perkalian")),
    "ipa": (("ipa", "sains", "science", "ilmu pengetahuan alam"),
            ("ipa", "sains", "science", "fisika", "biologi", "kimia", "physics", "biology",
             "chemistry")),
    "ips": (("ips", "social studies", "ilmu pengetahuan sosial"),
            ("ips", "social studies", "social science", "sejarah", "geografi", "history",
             "geography")),
    "inggris": (("bahasa inggris", "english", "b inggris", "bhs inggris"),
                ("bahasa inggris", "b inggris", "bhs inggris", "bhs ing", "b ing", "inggris",
                 "english", "b ingg")),
    "indonesia": (("bahasa indonesia", "b indonesia", "bhs indonesia"),
                  ("bahasa indonesia", "b indonesia", "bhs indonesia", "b indo", "bhs indo",
                   "bahasa indo", "bindo", "indonesian language", "indonesian class",
                   "bahasa class", "bahasa test", "bahasa lesson")),
    "pjok": (("pjok", "penjas", "penjaskes", "penjasorkes", "olahraga", "pendidikan jasmani",
              "physical education", "pe"),
             ("pjok", "penjas", "penjaskes", "penjasorkes", "olahraga", "olah raga", "or", "pe",
              "physical education", "sport", "sports", "gym class")),
    "agama": (("pai", "pendidikan agama islam", "agama", "agama islam", "pendidikan agama"),
              ("agama", "pai", "pendidikan agama", "religion", "ngaji", "mengaji",
               "religious education", "islamic studies")),
    "seni": (("seni budaya", "seni", "sbdp", "sbk", "kesenian", "art", "arts", "seni rupa"),
             ("seni budaya", "seni", "sbdp", "sbk", "kesenian", "art", "arts", "art class",
              "seni rupa", "seni musik")),
    "pkn": (("ppkn", "pkn", "pendidikan pancasila", "pancasila", "civics"),
            ("ppkn", "pkn", "pancasila", "civics")),
    "informatika": (("informatika", "tik", "ict", "computer science"),
                    ("informatika", "tik", "ict", "computer science", "coding")),
    "jawa": (("bahasa jawa", "b jawa", "bhs jawa"), ("bahasa jawa", "b jawa", "bhs jawa")),
    "arab": (("bahasa arab", "b arab", "bhs arab"), ("bahasa arab", "b arab", "bhs arab")),
}
# Subject names that are ordinary words in a message ("Pak" = sir, "or", "PE" in "pe er" = PR):
# they count only when written in capitals, as a subject name would be.
_CAPITALS_ONLY = {"pak", "pe", "or", "art"}
# Where a subject's name does not mean the subject: an apology for one's English, a school event.
_NOT_A_SUBJECT: tuple[tuple[str, ...], ...] = (
    ("my", "english"), ("our", "english"), ("bahasa", "inggris", "saya"), ("pentas", "seni"),
    ("hari", "olahraga"), ("sports", "day"), ("english", "version"), ("versi", "inggris"),
    ("versi", "bahasa", "inggris"),
)
# A translation of a document is not a language lesson.
_TRANSLATION_STEMS = ("translat", "terjemah", "diterjemah", "menerjemah", "penerjemah")
_LANGUAGE_NAMES = frozenset({"english", "inggris", "indonesia", "indonesian", "indo", "jawa",
                             "arab", "arabic", "javanese"})
# Subject names that are also everyday words in a regional language (Minang "pai" = go): a
# subject only in capitals or next to a learning word.
_NEEDS_CONTEXT = frozenset({"pai"})
_LEARNING_WORDS = frozenset({
    "nilai", "pelajaran", "mapel", "guru", "ulangan", "tugas", "pr", "ujian", "remedial", "remed",
    "uts", "uas", "pts", "pas", "rapor", "materi", "les", "hafalan", "soal", "tes",
    "grade", "grades", "mark", "marks", "test", "exam", "homework", "lesson", "lessons",
    "teacher", "score", "quiz", "assignment", "project", "nilainya", "tugasnya",
})


@lru_cache(maxsize=1)
def _stemmer() -> Any:
    """The Sastrawi stemmer, built once on first use (loading its dictionary takes a moment)."""
    from Sastrawi.Stemmer.StemmerFactory import StemmerFactory

    return StemmerFactory().create_stemmer()


@lru_cache(maxsize=8192)
def _stem(word: str) -> str:
    """Sastrawi stem of one word; cached because stemming is the slow step."""
    if len(word) > MAX_STEM_LEN or not word.isalpha():
        return word
    return str(_stemmer().stem(word))


def _english_bases(word: str) -> list[str]:
    """Possible English base forms: bullied -> bully, skipping -> skip, grades -> grade."""
    out: list[str] = []
    if len(word) < 4:
        return out
    if word.endswith(("ied", "ies")):  # bullied -> bully
        out.append(word[:-3] + "y")
    for suffix in ("ing", "ed", "es", "s", "d"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            root = word[: -len(suffix)]
            if suffix == "s" and root.endswith("s"):
                continue  # "class", "stress" are not plurals
            out.append(root)
            if len(root) >= 3 and root[-1] == root[-2] and root[-1] not in "aeiousl":
                out.append(root[:-1])  # skipping -> skipp -> skip
            if suffix in ("ing", "ed"):
                out.append(root + "e")  # teasing -> tease
    return out


@lru_cache(maxsize=8192)
def _forms(token: str) -> tuple[str, ...]:
    """The ordered forms of one token; the first one the lexicon knows is used to score."""
    forms: list[str] = [token]
    if token in _SLANG and " " not in _SLANG[token]:
        forms.append(_SLANG[token])
    if token.endswith("nya") and len(token) > 5:
        bare = token[:-3]
        forms.append(_SLANG.get(bare, bare))
    for form in list(forms):
        forms.append(_stem(form))
    for form in list(forms):
        forms.extend(_english_bases(form))
    for form in list(forms):
        for prefix in _INFORMAL_PREFIXES:
            if form.startswith(prefix) and len(form) - len(prefix) >= 4:
                rest = form[len(prefix):]
                forms.append(rest)
                forms.extend(_english_bases(rest))
        for suffix in _INFORMAL_SUFFIXES:
            if form.endswith(suffix) and len(form) - len(suffix) >= 4:
                forms.append(form[: -len(suffix)])
    seen: dict[str, None] = {}
    for form in forms:
        seen.setdefault(form, None)
    return tuple(seen)


def _tokens(text: str) -> list[str]:
    """Lowercased word tokens with chat spelling expanded; anything else is a separator."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _REDUP_RE.sub(lambda m: f"{m[1]} {m[1]}{m[2] or ''}", text)
    text = _expand_english(text.replace("\u2019", "'"))
    # An amount of money is a fee signal whatever the words around it ("transfer 500rb").
    text = _MONEY_RE.sub(" nominaluang ", text)
    out: list[str] = []
    for raw in _TOKEN_RE.findall(text):
        out.extend(_SLANG[raw].split() if raw in _SLANG and " " in _SLANG[raw] else [raw])
        if len(out) >= MAX_TOKENS:
            break
    return out[:MAX_TOKENS]


def _split(term: str) -> tuple[str, ...]:
    return tuple(term.split())


# term (single word) -> [(category, weight)]; phrase (tuple of words) -> [(category, weight)]
_WORDS: dict[str, list[tuple[str, float]]] = {}
_PHRASES: dict[tuple[str, ...], list[tuple[str, float]]] = {}
for _category, _terms in _LEXICON.items():
    for _term, _weight in _terms.items():
        _parts = _split(_term)
        if len(_parts) == 1:
            _WORDS.setdefault(_parts[0], []).append((_category, _weight))
        else:
            _PHRASES.setdefault(_parts, []).append((_category, _weight))
for _phrase in _NEUTRAL_PHRASES:
    _PHRASES.setdefault(_split(_phrase), [])
# Longest phrases first so "surat keterangan sakit" wins over "surat keterangan".
_PHRASE_ORDER = sorted(_PHRASES, key=len, reverse=True)
_PHRASE_STARTS: dict[str, list[tuple[str, ...]]] = {}
for _phrase in _PHRASE_ORDER:
    _PHRASE_STARTS.setdefault(_phrase[0], []).append(_phrase)


def _match_at(forms: list[tuple[str, ...]], i: int, phrase: tuple[str, ...]) -> bool:
    if i + len(phrase) > len(forms):
        return False
    return all(word in forms[i + k] for k, word in enumerate(phrase))


def _score(tokens: list[str]) -> dict[str, float]:
    forms = [_forms(token) for token in tokens]
    scores: dict[str, float] = dict.fromkeys(CATEGORIES, 0.0)
    used = [False] * len(tokens)
    counted: set[tuple[str, ...]] = set()  # a term counts once, however often it is repeated

    for i in range(len(tokens)):
        if used[i]:
            continue
        candidates = [p for form in forms[i] for p in _PHRASE_STARTS.get(form, ())]
        for phrase in sorted(set(candidates), key=len, reverse=True):
            if any(used[i:i + len(phrase)]) or not _match_at(forms, i, phrase):
                continue
            for j in range(i, i + len(phrase)):
                used[j] = True
            if phrase not in counted:
                counted.add(phrase)
                for category, weight in _PHRASES[phrase]:
                    scores[category] += weight
            break

    for i, token_forms in enumerate(forms):
        if used[i]:
            continue
        for form in token_forms:
            entries = _WORDS.get(form)
            if entries is None:
                continue
            if (form,) not in counted:
                counted.add((form,))
                for category, weight in entries:
                    scores[category] += weight
            break
    return scores


_Alias = tuple[tuple[str, ...], str, bool]


def _subject_aliases(subjects: Iterable[str]) -> list[_Alias]:
    """(alias tokens, canonical name, is the school's own name) for each subject on the list."""
    out: list[_Alias] = []
    for canonical in subjects:
        own = tuple(_TOKEN_RE.findall(unicodedata.normalize("NFKC", canonical).lower()))
        if not own:
            continue
        out.append((own, canonical, True))
        name = " ".join(own)
        for identifying, aliases in _SUBJECT_FAMILIES.values():
            if name in identifying:
                out.extend((_split(alias), canonical, False) for alias in aliases)
    return out


def _mask_not_subjects(tokens: list[str]) -> list[str]:
    """Tokens with the words of _NOT_A_SUBJECT phrases blanked out, and the names of languages
    blanked in a message about a translation ("an English translation of his report card")."""
    masked = list(tokens)
    for phrase in _NOT_A_SUBJECT:
        n = len(phrase)
        for i in range(len(tokens) - n + 1):
            if tuple(tokens[i:i + n]) == phrase:
                masked[i:i + n] = [""] * n
    if any(token.startswith(_TRANSLATION_STEMS) for token in tokens):
        masked = ["" if token in _LANGUAGE_NAMES else token for token in masked]
    return masked


def _near_learning_word(tokens: list[str], start: int, end: int) -> int:
    """How many learning words ("nilai", "PR", "ulangan") stand within two tokens of a span."""
    window = tokens[max(0, start - 2):start] + tokens[end:end + 2]
    return sum(1 for token in window if _SLANG.get(token, token) in _LEARNING_WORDS)


def _subject_mentions(text: str, tokens: list[str],
                      subjects: Sequence[str]) -> list[tuple[int, int, str]]:
    """(start, end, the school's spelling) of each subject from the school's list named in the
    message, longest and the school's own name first where mentions overlap."""
    if not subjects or not tokens:
        return []
    capitals = set(re.findall(r"[A-Za-z0-9]+", text))
    plain = [_SLANG.get(t, t) for t in tokens]
    bare = [t[:-3] if t.endswith("nya") and len(t) > 5 else t for t in tokens]
    at: dict[str, list[int]] = {}  # each form of a token -> where it stands
    for i, forms in enumerate(zip(tokens, plain, bare, strict=True)):
        for form in set(forms):
            at.setdefault(form, []).append(i)
    found: list[tuple[int, int, int, str]] = []  # (start, -length, not own, name)
    for alias, canonical, own in _subject_aliases(subjects):
        n = len(alias)
        if n == 1 and alias[0] in _CAPITALS_ONLY and alias[0].upper() not in capitals:
            continue
        for i in at.get(alias[0], ()):  # only where the alias's first word stands
            if i > len(tokens) - n:
                continue
            window = range(i, i + n)
            if not all(alias[k] in (tokens[j], plain[j], bare[j]) for k, j in enumerate(window)):
                continue
            if (n == 1 and alias[0] in _NEEDS_CONTEXT and alias[0].upper() not in capitals
                    and not _near_learning_word(tokens, i, i + 1)):
                continue  # Minang "pai" (go) is not PAI unless a grade or a lesson is near
            found.append((i, -n, 0 if own else 1, canonical))
    found.sort()
    mentions: list[tuple[int, int, str]] = []
    taken: set[int] = set()
    for start, neg_len, _, canonical in found:
        span = set(range(start, start - neg_len))
        if span & taken:
            continue
        taken |= span
        mentions.append((start, start - neg_len, canonical))
    return mentions


def _find_subject(text: str, tokens: list[str], subjects: Sequence[str]) -> str | None:
    """The subject from the school's list this message is about, as the school spells it.

    One subject named: that one. Several: the one a learning word stands next to ("nilai IPA
    turun, padahal matematika bagus" is about IPA); when none or several are, the first named.
    """
    mentions = _subject_mentions(text, tokens, subjects)
    names = {canonical for _, _, canonical in mentions}
    if len(names) <= 1:
        return mentions[0][2] if mentions else None
    by_name: dict[str, int] = {}
    for start, end, canonical in mentions:
        by_name[canonical] = max(by_name.get(canonical, 0), _near_learning_word(tokens, start, end))
    best = max(by_name.values())
    leaders = [name for name, near in by_name.items() if near == best]
    if best > 0 and len(leaders) == 1:
        return leaders[0]
    return mentions[0][2]


_GENERIC_SUBJECTS = frozenset(
    alias for names, aliases in _SUBJECT_FAMILIES.values() for alias in (*names, *aliases)
    if " " not in alias and alias not in _CAPITALS_ONLY
) | {"prakarya", "fisika", "kimia", "biologi", "sejarah", "geografi", "sosiologi"}


def _names_a_subject(text: str, tokens: list[str]) -> bool:
    """Whether any subject (listed by this school or not) is named as a subject."""
    capitals = None
    for i, token in enumerate(tokens):
        name = token if token in _GENERIC_SUBJECTS else _SLANG.get(token)
        if name not in _GENERIC_SUBJECTS:
            continue
        if name in _NEEDS_CONTEXT:
            capitals = capitals or set(re.findall(r"[A-Za-z0-9]+", text))
            if name.upper() not in capitals and not _near_learning_word(tokens, i, i + 1):
                continue
        return True
    return False


@dataclass(frozen=True)
class Evidence:
    """What the lexicon reads in a message, before anything is decided.

    ``scores`` holds each category's points (a subject named as a subject counts under
    ``academic``); ``subject`` is the school's subject the message is about, if any.
    """

    scores: dict[str, float]
    subject: str | None
    names_subject: bool
    words: int = 0  # how many words the message has

    def group_scores(self) -> dict[str, float]:
        """The evidence summed per staff group: who should read it is what matters."""
        return {group: sum(self.scores[c] for c in members) for group, members in GROUPS.items()}

    def best_category(self, group: str) -> str | None:
        """The strongest category of a group, None when the group has no evidence at all."""
        members = GROUPS[group]
        top = max(members, key=lambda c: (self.scores[c], -members.index(c)))
        return top if self.scores[top] > 0 else None

    def decided_group(self) -> str | None:
        """The group whose summed evidence is strong enough and clear of every other, else None."""
        totals = self.group_scores()
        ranked = sorted(GROUPS, key=lambda g: -totals[g])
        top, runner_up = ranked[0], ranked[1]
        if totals[top] < MIN_SCORE or totals[top] - totals[runner_up] < MARGIN:
            return None
        return top


def evidence(text: str, subjects: Sequence[str] = ()) -> Evidence:
    """The lexicon's reading of a message: category scores and the subject it is about."""
    tokens = _tokens(text or "")
    subject_tokens = _mask_not_subjects(tokens)
    subject = _find_subject(text or "", subject_tokens, subjects)
    scores = _score(tokens)
    # A subject the school does not list ("prakarya", "math" at another school) still
    # means a learning question; it is just not reported.
    names_subject = subject is not None or _names_a_subject(text or "", subject_tokens)
    if names_subject:
        scores["academic"] += SUBJECT_WEIGHT
    return Evidence(scores, subject, names_subject, len(tokens))


def classify(text: str, subjects: Sequence[str] = ()) -> Classification:
    """The lexicon alone: category and group (None when unclear) and the named subject."""
    found = evidence(text, subjects)
    group = found.decided_group()
    if group is None:
        return Classification(None, None, found.subject, False)
    return Classification(found.best_category(group), group, found.subject, True)
