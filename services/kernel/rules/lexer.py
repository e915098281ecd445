"""A CEL tokenizer with positions, so limits and references are checked before parsing.

The Rust parser behind `common-expression-language` recurses without a depth
limit (a 50,000-term chain overflows the stack and kills the process), so the
size of an expression is measured here, on tokens, before it ever gets there.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Kind(Enum):
    IDENT = "identifier"
    NUMBER = "number"
    STRING = "string"
    PUNCT = "operator"


@dataclass(frozen=True, slots=True)
class Token:
    kind: Kind
    text: str
    line: int  # 1-based, as the CEL parser reports positions
    column: int


class LexError(ValueError):
    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


# Longest first, so `==` is one token and not two `=`.
PUNCTUATION = ("==", "!=", "<=", ">=", "&&", "||", *"<>+-*/%!?:.,()[]{}")
_STRING_PREFIXES = {"r", "b", "rb", "br"}
_IDENT_START = set("_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_IDENT_PART = _IDENT_START | set("0123456789")
_NUMBER_PART = set("0123456789abcdefABCDEFxX.uU")


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.line = 1
        self.line_start = 0

    @property
    def column(self) -> int:
        return self.i - self.line_start + 1

    def advance(self, n: int) -> None:
        for _ in range(n):
            if self.text[self.i] == "\n":
                self.line += 1
                self.line_start = self.i + 1
            self.i += 1

    def string(self, raw: bool) -> None:
        """Consumes a quoted literal ('...', "...", '''...''', \"\"\"...\"\"\") at the quote."""
        text, line, column = self.text, self.line, self.column
        quote = text[self.i] * 3 if text.startswith(text[self.i] * 3, self.i) else text[self.i]
        self.advance(len(quote))
        while not text.startswith(quote, self.i):
            if self.i >= len(text) or (len(quote) == 1 and text[self.i] == "\n"):
                raise LexError("unterminated string literal", line, column)
            self.advance(2 if text[self.i] == "\\" and not raw and self.i + 1 < len(text) else 1)
        self.advance(len(quote))


def tokenize(text: str) -> list[Token]:
    """The tokens of `text`; comments and white space dropped."""
    s = _Scanner(text)
    tokens: list[Token] = []
    while s.i < len(text):
        c, line, column, start = text[s.i], s.line, s.column, s.i
        if c in " \t\r\n\f":
            s.advance(1)
            continue
        if text.startswith("//", s.i):
            while s.i < len(text) and text[s.i] != "\n":
                s.advance(1)
            continue
        if c in _IDENT_START:
            while s.i < len(text) and text[s.i] in _IDENT_PART:
                s.advance(1)
            word = text[start : s.i]
            if word.lower() in _STRING_PREFIXES and s.i < len(text) and text[s.i] in "'\"":
                s.string(raw="r" in word.lower())
                tokens.append(Token(Kind.STRING, text[start : s.i], line, column))
            else:
                tokens.append(Token(Kind.IDENT, word, line, column))
            continue
        if c in "'\"":
            s.string(raw=False)
            tokens.append(Token(Kind.STRING, text[start : s.i], line, column))
            continue
        if c.isdigit() or (c == "." and text[s.i + 1 : s.i + 2].isdigit()):
            while s.i < len(text) and (
                text[s.i] in _NUMBER_PART
                or (
                    text[s.i] in "+-"
                    and text[s.i - 1] in "eE"
                    and not text[start:].startswith("0x")
                )
            ):
                s.advance(1)
            tokens.append(Token(Kind.NUMBER, text[start : s.i], line, column))
            continue
        punct = next((p for p in PUNCTUATION if text.startswith(p, s.i)), None)
        if punct is None:
            raise LexError(f"unexpected character {c!r}", line, column)
        s.advance(len(punct))
        tokens.append(Token(Kind.PUNCT, punct, line, column))
    return tokens


def nesting(tokens: list[Token]) -> tuple[int, Token | None]:
    """The deepest bracket nesting, and the token where it is first reached."""
    depth = deepest = 0
    where: Token | None = None
    for t in tokens:
        if t.kind is Kind.PUNCT and t.text in "([{":
            depth += 1
            if depth > deepest:
                deepest, where = depth, t
        elif t.kind is Kind.PUNCT and t.text in ")]}":
            depth -= 1
    return deepest, where


def largest_literal(tokens: list[Token]) -> int:
    """The most elements of any list or map literal (`[a, b, c]` has 3)."""
    largest, open_counts = 0, []  # per open bracket: elements so far, or None for parens
    for t in tokens:
        if t.kind is not Kind.PUNCT:
            continue
        if t.text in "[{(":
            open_counts.append(1 if t.text != "(" else 0)
        elif t.text in "]})" and open_counts:
            largest = max(largest, open_counts.pop())
        elif t.text == "," and open_counts and open_counts[-1]:
            open_counts[-1] += 1
    return largest
