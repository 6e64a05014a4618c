"""The languages a debate can be held in: Discord's locales, and which one a debate answers in.

Personas and the verdict answer in the asker's Discord locale unless the server pinned a language. The
locale codes and their names are Discord's own list (https://discord.com/developers/docs/reference#locales).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Language:
    """A Discord locale: its code, its name in English and in itself."""

    code: str
    english: str
    native: str

    @property
    def label(self) -> str:
        """``French (Français)``; just the name when both are the same."""
        return self.english if self.english == self.native else f"{self.english} ({self.native})"

    @property
    def is_english(self) -> bool:
        return self.code.startswith("en-")


LANGUAGES: dict[str, Language] = {
    language.code: language
    for language in (
        Language("id", "Indonesian", "Bahasa Indonesia"),
        Language("da", "Danish", "Dansk"),
        Language("de", "German", "Deutsch"),
        Language("en-GB", "English, UK", "English, UK"),
        Language("en-US", "English, US", "English, US"),
        Language("es-ES", "Spanish", "Español"),
        Language("es-419", "Spanish, LATAM", "Español, LATAM"),
        Language("fr", "French", "Français"),
        Language("hr", "Croatian", "Hrvatski"),
        Language("it", "Italian", "Italiano"),
        Language("lt", "Lithuanian", "Lietuviškai"),
        Language("hu", "Hungarian", "Magyar"),
        Language("nl", "Dutch", "Nederlands"),
        Language("no", "Norwegian", "Norsk"),
        Language("pl", "Polish", "Polski"),
        Language("pt-BR", "Portuguese, Brazilian", "Português do Brasil"),
        Language("ro", "Romanian, Romania", "Română"),
        Language("fi", "Finnish", "Suomi"),
        Language("sv-SE", "Swedish", "Svenska"),
        Language("vi", "Vietnamese", "Tiếng Việt"),
        Language("tr", "Turkish", "Türkçe"),
        Language("cs", "Czech", "Čeština"),
        Language("el", "Greek", "Ελληνικά"),
        Language("bg", "Bulgarian", "български"),
        Language("ru", "Russian", "Pусский"),
        Language("uk", "Ukrainian", "Українська"),
        Language("hi", "Hindi", "हिन्दी"),
        Language("th", "Thai", "ไทย"),
        Language("zh-CN", "Chinese, China", "中文"),
        Language("ja", "Japanese", "日本語"),
        Language("zh-TW", "Chinese, Taiwan", "繁體中文"),
        Language("ko", "Korean", "한국어"),
    )
}
"""Every locale Discord has, by code."""


def debate_language(asker_locale: str | None, pinned: str | None) -> Language | None:
    """The language a debate is held in: the server's pinned one, else the asker's locale; None for
    English (the prompts' own language) or a locale Discord does not list."""
    code = pinned or asker_locale
    language = LANGUAGES.get(code) if code else None
    return None if language is None or language.is_english else language


def find_language(text: str) -> Language | None:
    """The language a moderator named: its code or either of its names, in any case."""
    wanted = text.strip().casefold()
    for language in LANGUAGES.values():
        if wanted in (language.code.casefold(), language.english.casefold(), language.native.casefold()):
            return language
    return None
