"""Search that forgives: ids, taxonomy codes and category names, word prefixes, typos.

PostgreSQL: ranked full-text search on the GIN-indexed vector, every word a prefix
("audi" finds "audits"). SQLite: every word a substring of the text. "Did you mean":
pg_trgm's trigram similarity over the viewer's vocabulary, indexed in Python per data
version. Snippets are cut in Python from the text of the page's results (ts_headline parsed
every shown page's text again in PostgreSQL).

Everything here works on a queryset the caller has already passed through the visibility
policy (`Mitigation.objects.visible_to(user)`), so suggestions and snippets come only from
what the viewer may see: page text (never figures, drafts or feedback).
"""

import bisect
import collections
import itertools
import re

from django.contrib.postgres.search import SearchQuery, SearchRank
from django.db import connection
from django.db.models import Case, F, FloatField, IntegerField, Q, Value, When
from django.utils.html import escape
from django.utils.safestring import mark_safe

from portal.lib.page_cache import current_data_version, per_data_version

SEARCH_CONFIG = "english"
MAX_QUERY_LENGTH = 200
MAX_WORDS = 10
ID_RE = re.compile(r"^[A-Za-z]{1,4}[0-9]{1,8}$")
CODE_RE = re.compile(r"^[0-9]+(\.[0-9]+){0,2}$")
WORD_RE = re.compile(r"[^\W_]+")
# Marks of a highlighted word inside ts_headline's output: private-use characters, which the
# page text does not contain (they are removed from it first) and escape() leaves alone.
START, STOP = "\ue000", "\ue001"


def clean_query(text: str) -> str:
    text = (text or "").replace("\x00", " ").replace(START, " ").replace(STOP, " ")
    return " ".join(text.split())[:MAX_QUERY_LENGTH]


def query_words(text: str) -> list[str]:
    """The words of a query (letters and digits only: no tsquery or SQL syntax survives)."""
    return [w[:60] for w in WORD_RE.findall(clean_query(text).lower())][:MAX_WORDS]


def looks_like_id(text: str) -> bool:
    return bool(ID_RE.match(clean_query(text)))


def _postgres():
    return connection.vendor == "postgresql"


def _prefix_query(words):
    """Every word a prefix, all required: 'audi' -> to_tsquery('audi:*')."""
    return SearchQuery(" & ".join(f"{w}:*" for w in words), search_type="raw", config=SEARCH_CONFIG)


class _TsQuery(SearchQuery):
    """A query given as tsquery text: its lexemes are taken as they are (not parsed or
    stemmed again, as to_tsquery would)."""

    def __init__(self, text):
        super().__init__(text)
        self.text = text

    def as_sql(self, compiler, connection, function=None, template=None):
        return "%s::tsquery", [self.text]


# A prefix ('model':*) makes the GIN index gather the pages of every lexeme it matches before
# anything else (all 10,000 for "model"), even beside a rare word; the same lexemes named one
# by one let it skip through their lists (a rare and two common words: 1.3 -> 0.4 ms). A
# prefix standing for more lexemes than this stays a prefix.
MAX_EXPANSION = 16


@per_data_version
def _lexemes(table):
    """Every lexeme of the search vectors, sorted, and the number of pages with each (all
    pages: the list only rewrites queries and bounds their results; what they find is still
    the viewer's queryset)."""
    with connection.cursor() as cursor:
        inner = f"SELECT search_vector FROM {connection.ops.quote_name(table)}"  # noqa: S608
        cursor.execute("SELECT word, ndoc FROM ts_stat(%s)", [inner])
        rows = sorted(cursor.fetchall())
    return [word for word, _ in rows], list(itertools.accumulate(n for _, n in rows))


def _quoted(lexeme):
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def _lexeme_query(words, table):
    """(query, most pages it can match): every word a prefix, all required ('audi' ->
    'audit' | 'auditor'), each prefix written as the lexemes it matches when they are few
    (MAX_EXPANSION). Stop words are left out, as to_tsquery leaves them out. None while the
    data version is unknown."""
    if current_data_version() == "-":
        return None  # no list kept: the plain prefix query
    lexemes, pages_up_to = _lexemes(table)
    terms, most = [], len(lexemes) and pages_up_to[-1]
    for stems in _stems(words).values():
        for stem in stems:
            low = bisect.bisect_left(lexemes, stem)
            high = bisect.bisect_left(lexemes, stem + "\U0010ffff", low)
            if 0 < high - low <= MAX_EXPANSION:
                terms.append("(" + " | ".join(map(_quoted, lexemes[low:high])) + ")")
            else:
                terms.append(_quoted(stem) + ":*")
            # A page matching this term has one of these lexemes: at most their pages.
            below = pages_up_to[low - 1] if low else 0
            most = min(most, (pages_up_to[high - 1] if high else 0) - below)
    return _TsQuery(" & ".join(terms)), most


def finds_few(text, queryset) -> bool:
    """Whether searching `queryset` for `text` surely finds at most RANKED_MATCHES pages
    (PostgreSQL, from the lexemes' page counts; never for an id or a category's code or
    name, which match more): then the ranked page and the count can come in one query."""
    text = clean_query(text)
    words = query_words(text)
    if not (_postgres() and words) or looks_like_id(text) or _taxonomy_match(queryset, text):
        return False
    found = _lexeme_query(words, queryset.model._meta.db_table)
    return found is not None and found[1] <= RANKED_MATCHES


@per_data_version
def _categories(model):
    """(id, sort key, name in capitals) of every taxonomy category."""
    return [(pk, key, name.upper()) for pk, key, name in model.objects.values_list(
        "pk", "sort_key", "name"
    )]  # fmt: skip


def _taxonomy_match(queryset, text):
    """A taxonomy code (the category and everything under it) or a category's name, as the
    categories' ids: a condition on the page's own row, which PostgreSQL can OR with the
    full-text index (a condition on the joined category made it scan every page)."""
    categories = _categories(queryset.model._meta.get_field("category").related_model)
    if CODE_RE.match(text):
        key = ".".join(part.zfill(4) for part in text.split("."))
        ids = [pk for pk, sort_key, _ in categories if (sort_key + ".").startswith(key + ".")]
    elif len(text) >= 3:
        ids = [pk for pk, _, name in categories if text.upper() in name]
    else:
        return None
    return Q(category_id__in=ids) if ids else None


# Ranking reads the search vector of every match (ts_rank over the 8,556 pages with "model"
# and "risk": 60 ms of PostgreSQL); listed by name, the first page is read from the name
# index (0.1 ms). So results are ranked while they are this many at most, else listed by
# name (the id itself still first): see `by_name_if_many`.
RANKED_MATCHES = 200


def search_mitigations(queryset, text):
    """Filter to matches and order by relevance: the id itself first, then the best matches
    (the callers list many matches by name instead, `by_name_if_many`)."""
    text = clean_query(text)
    if not text:
        return queryset
    words = query_words(text)
    extra = Q(pk__in=[])
    order = ["-rank", "name"]
    if looks_like_id(text):
        extra |= Q(code__iexact=text)
        id_first = When(code__iexact=text, then=Value(0))
        queryset = queryset.alias(
            id_first=Case(id_first, default=Value(1), output_field=IntegerField())
        )
        order.insert(0, "id_first")
    taxonomy = _taxonomy_match(queryset, text)
    if taxonomy is not None:
        extra |= taxonomy
    if not words:
        return queryset.filter(extra).order_by(*(o for o in order if o != "-rank"))
    if _postgres():
        found = _lexeme_query(words, queryset.model._meta.db_table)
        query = found[0] if found else _prefix_query(words)
        rank = SearchRank(F("search_vector"), query, weights=[0.1, 0.2, 0.4, 1.0])
        return queryset.filter(Q(search_vector=query) | extra).alias(rank=rank).order_by(*order)
    # SQLite: every word must appear somewhere (as a substring: prefixes match); name hits first.
    match = Q()
    name_hit = Q(pk__in=[])
    for word in words:
        match &= (
            Q(name__icontains=word)
            | Q(definition__icontains=word)
            | Q(additional_information__icontains=word)
            | Q(reasoning__icontains=word)
            | Q(category__name__icontains=word)
        )
        name_hit |= Q(name__icontains=word)
    rank = Case(When(name_hit, then=Value(1.0)), default=Value(0.0), output_field=FloatField())
    return queryset.filter(match | extra).alias(rank=rank).order_by(*order)


def by_name_if_many(queryset, count):
    """A search's results (`count` of them) in the order to show: ranked when they are at
    most RANKED_MATCHES, else by name (the id still first). Any other order is kept."""
    order = queryset.query.order_by
    if count <= RANKED_MATCHES or "-rank" not in order:
        return queryset
    return queryset.order_by(*(o for o in order if o != "-rank"))


# --- Snippets ------------------------------------------------------------------------------

MARKDOWN_NOISE = re.compile(r"!?\[([^\]]*)\]\([^)]*\)|[*_`#>]+")


def _plain(text: str) -> str:
    """Page text as a snippet shows it: Markdown links as their text, no emphasis marks."""
    text = text.replace(START, " ").replace(STOP, " ")
    return " ".join(MARKDOWN_NOISE.sub(lambda m: m.group(1) or " ", text).split())


def _marked(raw: str):
    """Escape, then turn the highlight marks into <mark> elements."""
    html = escape(raw).replace(START, "<mark>").replace(STOP, "</mark>")
    return mark_safe(html)  # noqa: S308 - escaped above; only our own <mark> tags are added


SNIPPET_FIELDS = ("definition", "additional_information", "reasoning")


def _highlight(text: str, pattern) -> str:
    """A window of the text around the first match of `pattern`, with its matches marked.
    Only the raw text around the first match is made plain (Markdown removed): all of it, for
    each of a page's 20 results, cost more than the rest of the snippet."""
    first = pattern.search(text)
    at = first.start() if first else 0
    raw_start = text.rfind(" ", 0, at - 120) + 1 if at > 120 else 0
    raw_end = text.find(" ", at + 400)
    raw_end = len(text) if raw_end < 0 else raw_end
    more_before, more_after = raw_start > 0, raw_end < len(text)
    text = _plain(text[raw_start:raw_end])
    first = pattern.search(text)
    start = max(0, first.start() - 60) if first else 0
    end = start + 220
    if start:  # whole words only
        start = text.find(" ", start, first.start()) + 1 or start
    if end < len(text):
        end = text.rfind(" ", start, end) if " " in text[start:end] else end
    before = "…" if start or more_before else ""
    after = "…" if end < len(text) or more_after else ""
    window = before + text[start:end] + after
    return pattern.sub(lambda m: f"{START}{m.group(0)}{STOP}", window)


def _stems(words) -> dict[str, tuple[str, ...]]:
    """PostgreSQL: each word's lexemes as the search's text configuration makes them ("policy"
    -> "polici"), kept per process (a pure function of the word)."""
    missing = [w for w in words if w not in _STEMS]
    if missing:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT w, array(SELECT unnest(tsvector_to_array(to_tsvector(%s::regconfig, w))))"
                " FROM unnest(%s::text[]) AS w",
                [SEARCH_CONFIG, missing],
            )
            found = dict(cursor.fetchall())
        if len(_STEMS) > 10_000:
            _STEMS.clear()
        for word in missing:
            _STEMS[word] = tuple(found.get(word) or ())
    return {w: _STEMS[w] for w in words}


_STEMS: dict = {}


def _snippet_pattern(words):
    """What a snippet marks. PostgreSQL: every word of the text that starts with a query word
    or its lexeme (the search matched word prefixes: "polic" finds "policies"); SQLite: the
    query words wherever they occur (the search matched substrings). Stop words ("the") are
    neither searched nor marked on PostgreSQL."""
    if _postgres():
        stems = _stems(words)
        prefixes = {p for w, s in stems.items() if s for p in (w, *s)}
        if not prefixes:
            return None
        prefixes = sorted(prefixes, key=len, reverse=True)
        return re.compile(
            r"(?<![^\W_])(?:" + "|".join(map(re.escape, prefixes)) + r")[^\W_]*", re.IGNORECASE
        )
    return re.compile("|".join(re.escape(w) for w in words), re.IGNORECASE)


def add_snippets(mitigations, text):
    """Give each result shown (`mitigations`, a page of them, fetched with SNIPPET_FIELDS)
    `.snippet`: the page text around the matched words, marked. From the definition,
    additional information and reasoning only (the text every viewer of the page sees)."""
    words = query_words(text)
    mitigations = list(mitigations)
    if not mitigations or not words:
        return mitigations
    pattern = _snippet_pattern(words)
    for m in mitigations if pattern else ():
        found = _highlight(" ".join(getattr(m, f) for f in SNIPPET_FIELDS), pattern)
        if START in found:
            m.snippet = _marked(found)
    return mitigations


# --- Did you mean --------------------------------------------------------------------------

MIN_SIMILARITY = 0.3


def _trigrams(word) -> frozenset:
    """pg_trgm's trigrams of one lower-case word: padded with two spaces before, one after."""
    padded = f"  {word} "
    return frozenset(padded[i : i + 3] for i in range(len(padded) - 2))


class Vocabulary:
    """The words "Did you mean" may suggest, sorted, with a trigram index: the closest word
    to a typo is found among the words sharing a trigram with it (pg_trgm's similarity,
    computed here: a query per unknown word sent the whole vocabulary to PostgreSQL)."""

    def __init__(self, words):
        self.words = sorted(words)
        self.grams = [_trigrams(w) for w in self.words]
        self.index = {}
        for i, grams in enumerate(self.grams):
            for gram in grams:
                self.index.setdefault(gram, []).append(i)

    def __len__(self):
        return len(self.words)

    def knows(self, word) -> bool:
        """The word is in the vocabulary, or a prefix of a word in it (prefix search finds it)."""
        i = bisect.bisect_left(self.words, word)
        return i < len(self.words) and self.words[i].startswith(word)

    def closest(self, word):
        """The most similar word (pg_trgm's similarity: shared trigrams / all trigrams of
        both), at least MIN_SIMILARITY; the first in order among equals."""
        grams = _trigrams(word)
        shared = collections.Counter(i for gram in grams for i in self.index.get(gram, ()))
        best = None
        for i, n in shared.items():
            similarity = n / (len(grams) + len(self.grams[i]) - n)
            key = (-similarity, self.words[i])
            if similarity >= MIN_SIMILARITY and (best is None or key < best):
                best = key
        return best and best[1]


def vocabulary(queryset, extra_names=()) -> Vocabulary:
    """The words of the viewer's visible pages' names and definitions (plus `extra_names`:
    taxonomy and facet names, which are public)."""
    words = set()
    for name, definition in queryset.values_list("name", "definition").iterator():
        words.update(WORD_RE.findall(f"{name} {definition}".lower()))
    for name in extra_names:
        words.update(WORD_RE.findall(name.lower()))
    return Vocabulary(w for w in words if len(w) >= 3 and not w.isdigit())


def suggest(text, vocab) -> str | None:
    """'incidnet' -> 'incident': each unknown word replaced by the closest known one."""
    words = query_words(text)
    if not words or not vocab:
        return None
    changed, out = False, []
    for word in words[:6]:
        if len(word) < 3 or word.isdigit() or vocab.knows(word):
            out.append(word)
            continue
        closest = vocab.closest(word)
        if closest and closest != word:
            out.append(closest)
            changed = True
        else:
            out.append(word)
    return " ".join(out) if changed else None
