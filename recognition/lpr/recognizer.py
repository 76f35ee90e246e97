"""Read the characters of a rectified plate crop with rapidocr's bundled PP-OCR model.

We run the recognition ONNX model directly through onnxruntime (one thread by default) and
decode its CTC output *constrained by the plate grammar*: every position may only hold the
characters the grammar allows there (province, letter, serial without I/O, suffix), so a
confusion such as O/0 or 8/B is resolved by position from the model's own probabilities.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

from models.plate import LETTERS, PROVINCES, SERIAL_CHARS, PlateColor, plate_templates

# (sub, serial, blank, cjk, dots): the CTC lattice of one crop, as _decode takes it
_Lattice = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]

REC_HEIGHT = 48
# The probe reads the front of a crop: the province and the separator dot, the marks that
# tell a plate from other lettering, stand in its first 60% (GA 36: the dot follows the second
# of seven characters). Stretched to 80 px (~1.1x the full read's scale, about half its cost)
# the Chinese character shows as well as in the whole line. The whole-line probe (120 px) is
# for plates whose only legible Chinese character may be the suffix 警/港/澳/学/挂 at the back.
PROBE_SPAN = 0.6
PROBE_WIDTH = 80
WHOLE_PROBE_WIDTH = 120
# Tokens that appear between plate characters and mean "no character here".
_SEPARATORS = "·.•-:' ,。"
_NEG = -1e9
# How the model writes the plate's separator dot.
_DOTS = "·.•"
# Template chosen by the plate's background colour: (length, colour narrowing the suffix).
_TYPED: dict[PlateColor, tuple[int, PlateColor | None]] = {
    PlateColor.WHITE: (7, PlateColor.WHITE),
    PlateColor.BLACK: (7, PlateColor.BLACK),
    PlateColor.GREEN: (8, None),
}
# How much worse (log-probability) the colour's template may fit than the free one and still
# win, and the probability credited to a suffix character the colour decided.
COLOR_PRIOR_NATS = 10.0
COLOR_CREDIBILITY = 0.8
# A blurred or dirty province character often reads as some *other* Chinese character (the
# model knows ~18,000); lettering that is not a plate has none there. That Chinese-ness
# counts, at this weight, as evidence of a province when the province itself is unsure.
CJK_EVIDENCE = 0.02
# The separator dot between the letter and the serial is as much a plate's mark as its
# province (GA 36; signs and stickers lack it): with a character read in front of the
# letter, the dot alone counts as this much province evidence, enough for a moderate
# confidence (0.4 for otherwise certain characters) when the province itself is illegible.
DOT_EVIDENCE = 0.003
LEAD_MIN = 0.5
# The province's second look (PlateRecognizer.second_look): the front of the text crop
# (province and letter), widened, read on its own, its opinion damped.
SECOND_LOOK_SPAN = 0.3
SECOND_LOOK_STRETCH = 1.3
SECOND_LOOK_PAD = 8
SECOND_LOOK_WEIGHT = 0.5
# How much likelier the site's own province is taken to be when the province is unsure.
HOME_PRIOR = 4.0
# The recogniser learned Chinese from general text, where the province characters are far
# from equally common: 新 ("new") is ~100x as frequent as 冀, 赣 or 闽. Given an illegible
# character it leans to the frequent ones; on a plate every province is a priori alike. So
# an unsure province's shares are divided by TEXT_PRIOR_POWER of each character's frequency
# in general text (label-shift correction, damped because the model is not a calibrated
# Bayes classifier; 0.75 was best or nearly so on three generated sets, 0.5-1.0 all gained).
# Frequencies: the jieba 0.42 dictionary (dict.txt), word frequencies summed per character.
TEXT_PRIOR_POWER = 0.75
_TEXT_FREQUENCY = {
    "新": 172835, "京": 82989, "青": 43791, "黑": 39048, "苏": 33363, "云": 31448,
    "藏": 29045, "贵": 24984, "宁": 23466, "鄂": 20366, "蒙": 19869, "吉": 16086,
    "川": 15487, "鲁": 14549, "津": 12815, "甘": 9995, "晋": 9648, "辽": 9136,
    "湘": 8900, "桂": 8749, "陕": 6584, "浙": 5851, "豫": 5493, "沪": 3085,
    "皖": 2121, "冀": 1863, "琼": 1790, "渝": 1723, "赣": 1618, "粤": 1615, "闽": 1576,
}  # fmt: skip
_LOG_TEXT_FREQUENCY = np.log([_TEXT_FREQUENCY[c] for c in PROVINCES])


def rapidocr_rec_model() -> Path:
    """The PP-OCR recognition model shipped inside the rapidocr wheel (no download)."""
    import rapidocr

    models = Path(rapidocr.__file__).parent / "models"
    found = sorted(models.glob("*rec*.onnx"))
    if not found:
        raise FileNotFoundError(f"no recognition model in {models}")
    return found[0]


@dataclass(frozen=True)
class PlateRead:
    """One constrained reading of a crop."""

    text: str
    char_probs: tuple[float, ...]  # model probability of each chosen character
    log_score: float  # log-probability of the best alignment (for comparing templates)
    greedy: str  # unconstrained best-path text, for diagnostics
    # The province's probability among the 31 provinces only (diagnostics: the model spreads a
    # small, blurred Chinese character over look-alike characters outside the plate alphabet).
    province_share: float = 0.0
    # Most probability letters/digits get in the frames aligned to the province (diagnostics).
    province_latin: float = 1.0
    # Most probability any Chinese character gets in the frames before the letter.
    province_cjk: float = 0.0
    # Most probability of a separator (the plate's dot) between the letter and the serial.
    dot: float = 0.0
    # Most probability of anything but a blank in the frames before the letter.
    lead: float = 0.0
    # Each province's share of the provinces' probability in the frames before the letter,
    # in PROVINCES order (empty when the decoder did not say).
    province_scores: tuple[float, ...] = ()

    @property
    def confidence(self) -> float:
        """Letter and serial: geometric mean of their probabilities, pulled down by the weakest.

        The province scales that by 0.3..1 on a log scale of its raw probability (0.001 -> 0.3,
        0.01 -> 0.53, 0.1 -> 0.77, 1 -> 1), or of CJK_EVIDENCE x the Chinese-character
        probability there when that is higher. Its raw probability, not its share among the
        provinces, is what tells a plate from other text: lettering without a Chinese character
        reads its letters and digits confidently but gives every province ~0.
        """
        if len(self.char_probs) < 2:
            return 0.0
        p = np.clip(np.array(self.char_probs[1:]), 1e-6, 1.0)
        rest = float(np.exp(np.log(p).mean()) * 0.7 + p.min() * 0.3)
        evidence = max(self.char_probs[0], CJK_EVIDENCE * self.province_cjk, 1e-9)
        # Something must stand before the letter (a province, however illegible).
        if len(self.greedy) >= len(self.char_probs) or self.lead >= LEAD_MIN:
            evidence = max(evidence, DOT_EVIDENCE * self.dot)
        province = float(np.clip((np.log10(evidence) + 3) / 3, 0.0, 1.0))
        return rest * (0.3 + 0.7 * province)


class PlateRecognizer:
    """CTC text recognition of plate crops, decoded under the plate grammar."""

    def __init__(
        self, *, threads: int = 1, model_path: Path | None = None, width: int = 168
    ) -> None:
        self.width = width
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        path = model_path or rapidocr_rec_model()
        self._session = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        self._input = self._session.get_inputs()[0].name
        meta = self._session.get_modelmeta().custom_metadata_map
        chars = meta["character"].splitlines()
        # CTC classes: 0 = blank, then the dictionary, then a space (PaddleOCR convention).
        classes = ["<blank>", *chars, " "]
        index: dict[str, int] = {}
        for i, c in enumerate(classes):
            index.setdefault(c, i)
        self._vocab = "".join(dict.fromkeys(PROVINCES + LETTERS + SERIAL_CHARS + "学挂警港澳"))
        missing = [c for c in self._vocab if c not in index]
        if missing:
            raise RuntimeError(f"recognition model lacks plate characters {missing}")
        self._cols = np.array([index[c] for c in self._vocab])
        self._sep_cols = np.array([0] + [index[c] for c in _SEPARATORS if c in index])
        self._dot_cols = np.array([index[c] for c in _DOTS if c in index])
        self._pos = {c: i for i, c in enumerate(self._vocab)}
        self._latin = np.array([self._pos[c] for c in LETTERS + "0123456789"])
        self._province_cols = np.array([self._pos[c] for c in PROVINCES])
        self._cjk = np.array(
            [len(c) == 1 and "\u4e00" <= c <= "\u9fff" for c in classes], np.float32
        )
        # Column indices (into the restricted vocabulary) allowed at each position.
        self._templates = {
            key: [
                _Template.build([np.array([self._pos[c] for c in alpha]) for alpha in layout])
                for layout in plate_templates(*key)
            ]
            for key in [(7, None), (8, None), *_TYPED.values()]
        }
        self._black = _TYPED[PlateColor.BLACK]

    def probabilities(self, crop_bgr: np.ndarray, width: int = 168) -> np.ndarray:
        """Per-frame class probabilities (T x classes) of one crop resized to 48 x width."""
        img = cv2.resize(crop_bgr, (width, REC_HEIGHT), interpolation=cv2.INTER_LINEAR)
        x = (img.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)[None]
        probs: np.ndarray = self._session.run(None, {self._input: x})[0][0]
        return probs

    def plate_probe(self, crop_bgr: np.ndarray, *, whole: bool = False) -> float:
        """How much a text crop looks like a plate to the model (0..1): the most probability of
        either a Chinese character or the separator dot in its front PROBE_SPAN read at
        PROBE_WIDTH (about half a full read's cost), or with ``whole`` anywhere in the line
        read at WHOLE_PROBE_WIDTH. Lettering that is not a plate (signs, stickers) has
        neither."""
        if whole:
            probs = self.probabilities(crop_bgr, WHOLE_PROBE_WIDTH)
        else:
            front = crop_bgr[:, : max(int(crop_bgr.shape[1] * PROBE_SPAN), 1)]
            probs = self.probabilities(front, PROBE_WIDTH)
        return max(float(_chinese_mass(probs, self._cjk).max()), float(self._dot_mass(probs).max()))

    def _dot_mass(self, probs: np.ndarray) -> np.ndarray:
        """Per frame, the probability of the plate's separator dot (any way it is written)."""
        mass: np.ndarray = probs[:, self._dot_cols].sum(axis=1)
        return mass

    def read(
        self, crop_bgr: np.ndarray, color: PlateColor | None = None, *, certain: bool = False
    ) -> PlateRead | None:
        """Best grammatical reading of a crop.

        Without a colour, 7- and 8-character plates with any suffix compete. With the plate's
        background colour, the type's own template (警 for white, 港/澳 for black, 8 chars for
        green) is preferred unless the model's output clearly contradicts it; a character the
        colour decided is given the colour's credibility as its probability.
        """
        probs = self.probabilities(crop_bgr, self.width)
        return self.decode(probs, color, certain=certain)

    def decode(
        self, probs: np.ndarray, color: PlateColor | None = None, *, certain: bool = False
    ) -> PlateRead | None:
        """``read`` on the model's output (T x classes) of a crop."""
        blank = probs[:, self._sep_cols].sum(axis=1)
        sub = probs[:, self._cols]
        cjk = _chinese_mass(probs, self._cjk)
        dots = self._dot_mass(probs)
        # The serial has no I/O: what the model gives them belongs to 1/0 there.
        serial = sub.copy()
        serial[:, self._pos["0"]] += sub[:, self._pos["O"]]
        serial[:, self._pos["1"]] += sub[:, self._pos["I"]]
        greedy = self._greedy(probs, blank, sub)
        lattice = (sub, serial, blank, cjk, dots)
        best: PlateRead | None = None
        # An 8-character (green) reading is only worth decoding when the colour or the raw
        # output allows it.
        lengths = (7, 8) if color in (None, PlateColor.GREEN, PlateColor.UNKNOWN) else (7,)
        if len(greedy) >= 8:
            lengths = (7, 8)
        for n in lengths:
            read = self._decode_best(lattice, (n, None))
            if read is not None and (best is None or read.log_score > best.log_score):
                best = read
        if best is None:
            return None
        typed_key = _TYPED.get(color) if color is not None else None
        if certain:
            pass  # the colour is sure of the type (a red 警)
        elif best.text[-1] in "港澳":
            typed_key = self._black  # the grammar: only Guangdong-Z plates carry these
        elif best.text[-1] in "学挂警":
            typed_key = None  # the colour never overrides a different suffix the model saw
        if typed_key is not None and typed_key != (len(best.text), None):
            typed = self._decode_best(lattice, typed_key)
            seen = best.text[-1] in "港澳" and typed_key == self._black
            if typed is not None and (seen or best.log_score - typed.log_score < COLOR_PRIOR_NATS):
                fixed = list(typed.char_probs)
                if typed_key[1] is not None and not seen:  # the suffix was decided by the colour
                    fixed[-1] = max(fixed[-1], COLOR_CREDIBILITY)
                if typed_key == self._black:  # 港/澳 decide the 粤Z in front
                    fixed[0] = max(fixed[0], min(fixed[-1], COLOR_CREDIBILITY))
                    fixed[1] = max(fixed[1], min(fixed[-1], COLOR_CREDIBILITY))
                best = dataclasses.replace(typed, char_probs=tuple(fixed))
        return dataclasses.replace(best, greedy=greedy)

    def _decode_best(
        self, lattice: _Lattice, key: tuple[int, PlateColor | None]
    ) -> PlateRead | None:
        """The likeliest reading over the layouts of one plate type."""
        reads = [self._decode(*lattice, tpl) for tpl in self._templates[key]]
        return max((r for r in reads if r is not None), key=lambda r: r.log_score, default=None)

    def _greedy(self, probs: np.ndarray, blank: np.ndarray, sub: np.ndarray) -> str:
        best = sub.argmax(axis=1)
        out, prev = [], -1
        for t, k in enumerate(best):
            tok = -1 if blank[t] >= sub[t, k] else int(k)
            if tok >= 0 and tok != prev:
                out.append(self._vocab[tok])
            prev = tok
        return "".join(out)

    def _decode(
        self,
        sub: np.ndarray,
        serial: np.ndarray,
        blank: np.ndarray,
        cjk: np.ndarray,
        dots: np.ndarray,
        tpl: _Template,
    ) -> PlateRead | None:
        """Viterbi over the CTC lattice of a fixed-length template.

        Characters k = 0..n-1 and blanks j = 0..n (blank j lies before character j). Each
        character state is a row over that position's alphabet (padded to a matrix), so a
        character keeps its identity along its frames and equal neighbours need a blank.
        """
        t_len, n = sub.shape[0], tpl.ids.shape[0]
        if t_len < n:
            return None
        lb = np.log(blank + 1e-9)
        # Positions 1-2 (province, letter) use the model's own classes, the serial the merged.
        probs = np.concatenate([sub[:, tpl.safe_ids[:2]], serial[:, tpl.safe_ids[2:]]], axis=1)
        emit = np.where(tpl.valid, np.log(probs + 1e-9), _NEG)  # T x n x M
        sb_hist = np.full((t_len, n + 1), _NEG)
        sc_hist = np.full((t_len, n, tpl.ids.shape[1]), _NEG)
        sb_hist[0, 0] = lb[0]
        sc_hist[0, 0] = emit[0, 0]
        rows = np.arange(1, n)
        for t in range(1, t_len):
            sb, sc = sb_hist[t - 1], sc_hist[t - 1]
            top = sc.max(axis=1)
            sb_hist[t, 0] = sb[0] + lb[t]
            sb_hist[t, 1:] = np.maximum(sb[1:], top) + lb[t]
            best = np.maximum(sc, sb[:n, None])
            best[1:] = np.maximum(best[1:], self._from_previous(sc, tpl, rows))
            sc_hist[t] = best + emit[t]
        end_c = int(sc_hist[-1, n - 1].argmax())
        if sb_hist[-1, n] >= sc_hist[-1, n - 1, end_c]:
            total, kind, k, c = float(sb_hist[-1, n]), "b", n, -1
        else:
            total, kind, k, c = float(sc_hist[-1, n - 1, end_c]), "c", n - 1, end_c
        if total <= _NEG / 2:
            return None
        picked = [-1] * n
        best_p = [0.0] * n
        first_frames: list[int] = []
        letter_at = t_len  # first frame of the letter (character 1)
        letter_end = serial_at = -1  # its last frame, and the serial's first
        for t in range(t_len - 1, 0, -1):
            prev_sc = sc_hist[t - 1]
            if kind == "c":
                picked[k] = c
                if k == 1:
                    letter_at = t
                    letter_end = max(letter_end, t)
                elif k == 2:
                    serial_at = t
                if k == 0:
                    first_frames.append(t)
                best_p[k] = max(best_p[k], float(probs[t, k, c]))
                stay, from_blank = prev_sc[k, c], sb_hist[t - 1, k]
                prev_row = None
                if k > 0:
                    prev_row = np.where(tpl.ids[k - 1] == tpl.ids[k, c], _NEG, prev_sc[k - 1])
                prev = prev_row.max() if prev_row is not None else _NEG
                if from_blank >= stay and from_blank >= prev:
                    kind, c = "b", -1
                elif prev > stay and prev_row is not None:
                    kind, k, c = "c", k - 1, int(prev_row.argmax())
            elif k > 0 and prev_sc[k - 1].max() > sb_hist[t - 1, k]:
                kind, k, c = "c", k - 1, int(prev_sc[k - 1].argmax())
        if kind == "c":
            picked[k] = c
            best_p[k] = max(best_p[k], float(probs[0, k, c]))
            if k == 0:
                first_frames.append(0)
        if -1 in picked:
            return None
        text = "".join(self._vocab[tpl.ids[i, picked[i]]] for i in range(n))
        # Where the province character is surest, its share of the provinces' probability.
        t_best = int(probs[:, 0, picked[0]].argmax())
        row = probs[t_best, 0][tpl.valid[0]]
        share = float(probs[t_best, 0, picked[0]] / max(float(row.sum()), 1e-9))
        latin = float(sub[first_frames][:, self._latin].sum(axis=1).max()) if first_frames else 1.0
        cjk_max = float(cjk[: max(letter_at, 1)].max())
        # The separator dot, where GA 36 puts it: between the letter and the serial.
        dot = float(dots[letter_end : serial_at + 1].max()) if 0 <= letter_end < serial_at else 0.0
        lead = float(1.0 - blank[: max(letter_at, 1)].min())
        scores = self._province_scores(sub[: max(letter_at, 1)])
        return PlateRead(text, tuple(best_p), total, "", share, latin, cjk_max, dot, lead, scores)

    def _province_scores(self, sub: np.ndarray) -> tuple[float, ...]:
        """Provinces' probability summed over some frames, as shares (PROVINCES order)."""
        mass = sub[:, self._province_cols].sum(axis=0)
        return tuple((mass / max(float(mass.sum()), 1e-9)).tolist())

    def second_look(
        self, crop_bgr: np.ndarray, read: PlateRead, home: str | None = None
    ) -> PlateRead:
        """The province again, from the front of the plate alone, widened.

        The province character of a small or blurred plate often reads as a Latin letter or a
        look-alike: squeezed to half its width (GA 36) beside six Latin characters, it looks
        little like the square Chinese characters of the text the model was trained on. The
        front of the crop (province and letter), widened by SECOND_LOOK_STRETCH and read on
        its own, gives a second opinion; the two are multiplied (the second one damped) and
        the best province wins, its general-text frequency divided out (TEXT_PRIOR_POWER).
        ``home``, the province most cars at the site carry, counts HOME_PRIOR times as likely
        as the others. The confidence is left as it was.
        """
        if not read.province_scores or read.text[-1] in "港澳":  # 港/澳 fix 粤 already
            return read
        h, w = crop_bgr.shape[:2]
        front = crop_bgr[:, : max(int(w * SECOND_LOOK_SPAN), 1)]
        width = round(front.shape[1] * SECOND_LOOK_STRETCH * REC_HEIGHT / h)
        front = cv2.resize(front, (width, REC_HEIGHT), interpolation=cv2.INTER_CUBIC)
        pad = SECOND_LOOK_PAD
        front = cv2.copyMakeBorder(front, 0, 0, pad, pad, cv2.BORDER_REPLICATE)
        probs = self.probabilities(front, front.shape[1])
        # The frame where a Chinese character is likeliest is where the province stands; the
        # less likely a Chinese character is there at all, the less its opinion counts (mixed
        # with "any province", by the square root of that probability).
        chinese = _chinese_mass(probs, self._cjk)
        t = int(chinese.argmax())
        shares = np.array(self._province_scores(probs[t : t + 1, self._cols]))
        sure = float(np.sqrt(chinese[t]))
        second = sure * shares + (1.0 - sure) / len(PROVINCES)
        first = np.array(read.province_scores)
        both = np.log(first + 1e-4) + SECOND_LOOK_WEIGHT * np.log(second + 1e-4)
        both -= TEXT_PRIOR_POWER * _LOG_TEXT_FREQUENCY
        if home is not None:
            both[PROVINCES.index(home)] += np.log(HOME_PRIOR)
        province = PROVINCES[int(both.argmax())]
        if province == read.text[0]:
            return read
        return dataclasses.replace(read, text=province + read.text[1:])

    @staticmethod
    def _from_previous(sc: np.ndarray, tpl: _Template, rows: np.ndarray) -> np.ndarray:
        """For characters 1..n-1: best score of the previous character at t-1, excluding the
        same character (CTC merges repeats unless a blank separates them)."""
        prev = sc[:-1]  # (n-1) x M
        order = np.argsort(prev, axis=1)
        first = prev[rows - 1, order[:, -1]]
        second = prev[rows - 1, order[:, -2]]
        best_char = tpl.ids[rows - 1, order[:, -1]]  # vocab id of the previous best
        same = tpl.ids[1:] == best_char[:, None]
        best: np.ndarray = np.where(same, second[:, None], first[:, None])
        return best


@dataclass(frozen=True)
class _Template:
    """A plate length's per-position alphabets as a padded matrix of vocabulary ids."""

    ids: np.ndarray  # n x M, -1 padding
    valid: np.ndarray  # n x M bool
    safe_ids: np.ndarray  # ids with padding replaced by 0 (for gathering)

    @classmethod
    def build(cls, alphabets: list[np.ndarray]) -> _Template:
        m = max(len(a) for a in alphabets)
        ids = np.full((len(alphabets), m), -1, np.int64)
        for k, a in enumerate(alphabets):
            ids[k, : len(a)] = a
        return cls(ids, ids >= 0, np.where(ids >= 0, ids, 0))


def _chinese_mass(probs: np.ndarray, cjk: np.ndarray) -> np.ndarray:
    """Per frame, the probability of all Chinese characters together. einsum, not ``@``: a
    BLAS matrix-vector product spins up its threads and costs ~50x more here."""
    mass: np.ndarray = np.einsum("tc,c->t", probs, cjk)
    return mass
