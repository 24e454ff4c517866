"""The character vocabulary shared by the speller, the CTC head and the checkpoint."""

from __future__ import annotations

from dataclasses import dataclass

BLANK, SOS, EOS, UNK = "<blank>", "<sos>", "<eos>", "<unk>"
SPECIAL_TOKENS = (BLANK, SOS, EOS, UNK)
CHARACTERS = " '" + "abcdefghijklmnopqrstuvwxyz"


@dataclass(frozen=True)
class Vocabulary:
    """Maps characters to ids and back.

    Id 0 is the CTC blank; ``<sos>``/``<eos>`` bracket every speller target.
    The token list is stored in the checkpoint, so a model always decodes with
    the alphabet it was trained on.
    """

    tokens: tuple[str, ...] = SPECIAL_TOKENS + tuple(CHARACTERS)

    def __post_init__(self):
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.tokens)})

    def __len__(self) -> int:
        return len(self.tokens)

    @property
    def blank_id(self) -> int:
        return self._index[BLANK]

    @property
    def sos_id(self) -> int:
        return self._index[SOS]

    @property
    def eos_id(self) -> int:
        return self._index[EOS]

    @property
    def unk_id(self) -> int:
        return self._index[UNK]

    def encode(self, text: str) -> list[int]:
        """Character ids of an already normalised text (no ``<sos>``/``<eos>``)."""
        return [self._index.get(c, self.unk_id) for c in text]

    def decode(self, ids) -> str:
        """Text of a sequence of ids; special tokens are dropped."""
        return "".join(self.tokens[i] for i in ids if self.tokens[i] not in SPECIAL_TOKENS)
