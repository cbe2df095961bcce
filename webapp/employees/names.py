"""Employee names from folder names: `ben_afflek` becomes "Ben Afflek"."""

from __future__ import annotations


def display_name(folder_name: str) -> str:
    """Underscores become spaces; words written all in lower case get capitals (Jean-luc too).

    A word with any capital (McDonald, DiCaprio) or without case (Korean) is kept as it is.
    """
    words = folder_name.replace("_", " ").split()
    return " ".join(
        "-".join(part[:1].upper() + part[1:] for part in word.split("-"))
        if word.islower()
        else word
        for word in words
    )
