"""Which request parameters are secrets: the key list, and the matching of keys against it.

The request event replaces the values of these keys in ``GET`` and ``POST``
by ``'********'``, and the request context replaces them in the query string
(and a query-like fragment) of ``referer``.

A key is compared in a normalized form: camelCase is split into words, every
run of characters other than letters (``-``, ``_``, ``.``, space, brackets,
digits, ...) separates words, and words are case-folded. So ``X-Api-Key``,
``x_api_key``, ``apiKey`` and ``user[api.key]`` all hold the words ``api``
and ``key``. Each entry of :data:`CENSORED_KEYS` is written in that form (no
separators) and matches a key in one of two ways:

* ``'pin'``: a word of the key, or several adjacent words joined, equals the
  entry. ``pin``, ``user_pin``, ``PIN2``, ``user[pin]`` match; ``shipping``,
  ``spinner`` and ``opinion`` do not. ``'cardnumber'`` matches
  ``card_number``, ``cardNumber`` and ``card-number``.
* ``'*token*'``: the entry appears anywhere in the key's words joined:
  ``csrfmiddlewaretoken``, ``access_token``, ``oldPassword``. Only long,
  unambiguous stems are written this way.

``EVENT_TRACKING_CENSORED_KEYS`` adds entries to this list, in the same two
forms; written with separators (``'nhs_number'``) they are normalized the same
way. It cannot remove any.
"""

import logging
import re
from functools import lru_cache
from urllib.parse import unquote_plus

from django.conf import settings

CENSORED_VALUE = '*' * 8
"""What a censored value is replaced by."""

CENSORED_KEYS = (
    # passwords and other secrets typed by a person
    '*password*', '*passwd*', '*passphrase*', '*passcode*', '*pwd*', 'pass', 'pin', 'otp', 'totp', 'hotp',
    # credentials of programs
    '*secret*', '*token*', '*apikey*', 'privatekey', 'accesskey', 'signingkey', 'jwt', 'bearer', 'authorization',
    'credential', 'credentials', 'signature', 'sig',
    # session identifiers
    'sessionid', 'sessionkey', 'sessid', 'jsessionid', 'phpsessid',
    # payment cards and bank accounts
    'cardnumber', 'cardnum', 'cardno', 'ccnumber', 'ccnum', 'creditcard', 'cvv', 'cvc', 'cvn', 'csc',
    'securitycode', 'iban', 'accountnumber',
    # national identifiers
    'ssn', 'socialsecurity', 'socialsecuritynumber',
)
"""The built-in censored keys (see the module documentation for the two forms of an entry)."""

CENSORED_KEYS_SETTING_NAME = 'EVENT_TRACKING_CENSORED_KEYS'

LOG = logging.getLogger(__name__)

_WILDCARD = '*'
_CAMEL_BOUNDARY = re.compile(r'(?<=[^\W\d_])(?=[A-Z][a-z])|(?<=[a-z])(?=[A-Z])')
_WORD = re.compile(r'[^\W\d_]+')
_CACHED_KEY_LENGTH = 200


def key_words(key):
    """The case-folded words of a parameter key: ``'X-Api-Key'`` -> ``['x', 'api', 'key']``."""
    return [word.casefold() for word in _WORD.findall(_CAMEL_BOUNDARY.sub(' ', key))]


def normalized_entry(entry):
    """An entry of a censored-key list in normalized form (``'*Api-Key*'`` -> ``'*apikey*'``).

    ``ValueError`` if it has no letters, or an asterisk anywhere but at both ends.
    """
    if not isinstance(entry, str):
        raise ValueError(f'{entry!r} is not a string')
    anywhere = len(entry) > 2 and entry.startswith(_WILDCARD) and entry.endswith(_WILDCARD)
    core = entry[1:-1] if anywhere else entry
    if _WILDCARD in core:
        raise ValueError(f'{entry!r}: an asterisk may only wrap the whole entry, as in \'*token*\'')
    joined = ''.join(key_words(core))
    if not joined:
        raise ValueError(f'{entry!r} has no letters to match')
    return f'{_WILDCARD}{joined}{_WILDCARD}' if anywhere else joined


class KeyCensor:
    """Decides which keys are censored, for the built-in :data:`CENSORED_KEYS` plus ``extra`` entries."""

    def __init__(self, extra=()):
        entries = {normalized_entry(entry) for entry in CENSORED_KEYS + tuple(extra)}
        self.stems = tuple(sorted(entry.strip(_WILDCARD) for entry in entries if entry.startswith(_WILDCARD)))
        self.words = frozenset(entry for entry in entries if not entry.startswith(_WILDCARD))
        self._longest_word = max(map(len, self.words), default=0)
        self._cached = lru_cache(maxsize=4096)(self._decide)

    def is_censored(self, key):
        """True if the values of the parameter ``key`` are to be censored."""
        if isinstance(key, str) and len(key) <= _CACHED_KEY_LENGTH:
            return self._cached(key)
        return self._decide(key)

    def _decide(self, key):
        words = key_words(key) if isinstance(key, str) else []
        joined = ''.join(words)
        if any(stem in joined for stem in self.stems):
            return True
        for start in range(len(words)):
            run = ''
            for end in range(start, len(words)):
                run += words[end]
                if len(run) > self._longest_word:
                    break
                if run in self.words:
                    return True
        return False

    def parameters(self, query_dict):
        """``{key: [values]}`` of a ``QueryDict``, with the values of censored keys replaced by ``'********'``."""
        return {
            key: [CENSORED_VALUE] * len(values) if self.is_censored(key) else list(values)
            for key, values in query_dict.lists()
        }

    def url(self, url):
        """``url`` with the values of censored keys in its query string and fragment replaced; else unchanged.

        Only those values change: the rest of the text (order, encoding) stays as it was.
        """
        if not isinstance(url, str) or '=' not in url:
            return url
        before_fragment, hash_sign, fragment = url.partition('#')
        base, question_mark, query = before_fragment.partition('?')
        return base + question_mark + self._query(query) + hash_sign + self._query(fragment)

    def _query(self, query):
        if '=' not in query:
            return query
        pairs = query.split('&')
        for index, pair in enumerate(pairs):
            raw_key, equals, _ = pair.partition('=')
            if equals and self.is_censored(unquote_plus(raw_key)):
                pairs[index] = f'{raw_key}={CENSORED_VALUE}'
        return '&'.join(pairs)


def key_censor():
    """The :class:`KeyCensor` of the built-in keys plus ``EVENT_TRACKING_CENSORED_KEYS`` (built once per value).

    Invalid entries of the setting (reported by the system checks) are logged once and left out.
    """
    extra = getattr(settings, CENSORED_KEYS_SETTING_NAME, ())
    if isinstance(extra, str) or not isinstance(extra, (list, tuple)):
        extra = ()
    return _key_censor(tuple(entry if isinstance(entry, str) else type(entry) for entry in extra))


@lru_cache(maxsize=8)
def _key_censor(extra):
    valid = []
    for entry in extra:
        try:
            normalized_entry(entry)
        except ValueError as exc:
            LOG.error('%s: skipping an entry: %s', CENSORED_KEYS_SETTING_NAME, exc)
        else:
            valid.append(entry)
    return KeyCensor(valid)
