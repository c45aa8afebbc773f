"""The .saec header: a msgpack map, readable without a key, authenticated by the file's tag.

``Header`` is the validated, typed view; ``Header.to_map`` gives the map a writer emits (fixed key order, so
files are reproducible) and ``Header.from_map`` checks every field a reader relies on. Readers ignore keys
they do not know (minor versions may add them) and reject unknown values of known fields.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import msgpack

from ..errors import FormatError, LimitExceededError, UnsupportedFeatureError
from ..limits import DEFAULT_LIMITS, Limits

__all__ = [
    "FORMAT_MAJOR",
    "FORMAT_MINOR",
    "MODES",
    "CIPHERS",
    "WEIGHT_DTYPES",
    "ImageInfo",
    "ModelInfo",
    "QuantInfo",
    "RdModelInfo",
    "RdQuantInfo",
    "OverfitModelInfo",
    "OverfitQuantInfo",
    "PAPER_VERSION",
    "OVERFIT_VERSION",
    "RD_VERSION",
    "CONTEXT_VERSION",
    "METADATA_VERSION",
    "MAX_CONTEXT_BYTES",
    "KdfParams",
    "CryptoInfo",
    "Header",
    "pack_header",
    "parse_sections",
    "unpack_header_map",
]

FORMAT_MAJOR = 1
FORMAT_MINOR = 3  # the newest minor version this reader knows
PAPER_VERSION = (1, 0)  # paper-profile files are written as 1.0, readable by every version-1 reader
RD_VERSION = (1, 1)  # the rd profile was added in 1.1
CONTEXT_VERSION = (1, 2)  # files bound to a context (associated data, crypto.context) were added in 1.2
METADATA_VERSION = (1, 2)  # the optional encrypted ``meta`` section (EXIF, ICC, XMP) was added in 1.2
OVERFIT_VERSION = (1, 3)  # the overfit profile (latent grids + a synthesis network trained per image) in 1.3
MAX_CONTEXT_BYTES = 65536  # a context names a place (an object key, a chunk): never more than this

#: image mode -> (colour channels coded by the SAE, has an alpha plane carried losslessly)
MODES: dict[str, tuple[int, bool]] = {"L": (1, False), "LA": (1, True), "RGB": (3, False), "RGBA": (3, True)}
CIPHERS = ("chacha20", "logistic")
KDFS = ("secret-key", "scrypt")
WEIGHT_DTYPES: dict[str, int] = {"f32le": 4, "f16le": 2}  # name -> bytes per value
LATENT_QUANTISERS = ("u8",)
PROFILES: dict[str, tuple[int, int]] = {"paper": PAPER_VERSION, "rd": RD_VERSION, "overfit": OVERFIT_VERSION}
RD_TRANSFORMS = ("dct-ii",)
RD_COLOURS = ("ycbcr", "grey")
RD_CHROMA = ("444", "420")
RD_LATENTS = ("rc1",)
RD_STEP_MIN = 2  # quantiser steps are stored in sixteenths: 2/16 .. 16384/16
RD_STEP_MAX = 16384
RD_DEBLOCK_MAX = 64
RC1_MIN_BYTES = 5  # the shortest stream the entropy coder writes
ACTIVATIONS = ("sigmoid",)
# The overfit profile's structural bounds (Limits bound the work further): latent levels, channels per level,
# hidden 1x1 layers and their widths, residual 3x3 layers, weight quantiser shifts (step 2^-shift).
OVERFIT_COLOURS = ("rgb", "grey")
OVERFIT_UPSAMPLING = ("bilinear",)
OVERFIT_ARITHMETIC = ("f32",)
OVERFIT_CODERS = ("lc1",)
OVERFIT_MAX_LEVELS = 7
OVERFIT_MAX_LEVEL_CHANNELS = 4
OVERFIT_MAX_HIDDEN_LAYERS = 4
OVERFIT_MAX_WIDTH = 256
OVERFIT_MAX_RESIDUAL = 4
OVERFIT_MAX_SHIFT = 30
LC1_MIN_BYTES = 5  # the shortest stream the latent coder writes
NONCE_BYTES = 32
SCRYPT_SALT_BYTES = 16
MAX_BLOCK = 64
MAX_LAYERS = 8
MAX_UNITS = 4096


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise FormatError(f"invalid header: {message}")


def _get(mapping: Any, key: str, kind: type, where: str) -> Any:
    """Fetch a required field of an exact type (``bool`` is never accepted as ``int``)."""
    _require(isinstance(mapping, dict), f"{where} is not a map")
    _require(key in mapping, f"{where} lacks {key!r}")
    value = mapping[key]
    _require(type(value) is kind, f"{where}.{key} is not of type {kind.__name__}")
    return value


def _get_int(mapping: Any, key: str, where: str, low: int, high: int) -> int:
    value = _get(mapping, key, int, where)
    _require(low <= value <= high, f"{where}.{key}={value} outside {low}..{high}")
    return value


def _get_choice(mapping: Any, key: str, where: str, choices: tuple[str, ...] | dict[str, Any]) -> str:
    value = _get(mapping, key, str, where)
    if value not in choices:
        raise UnsupportedFeatureError(f"unsupported {where}.{key} {value!r} (known: {', '.join(choices)})")
    return value


@dataclass(frozen=True)
class ImageInfo:
    """Shape and mode of the original image; blocks are padded by edge replication and cropped on decode."""

    height: int
    width: int
    mode: str

    @property
    def colour_channels(self) -> int:
        return MODES[self.mode][0]

    @property
    def has_alpha(self) -> bool:
        return MODES[self.mode][1]

    @property
    def channels(self) -> int:
        return self.colour_channels + int(self.has_alpha)

    def to_map(self) -> dict[str, Any]:
        return {"height": self.height, "width": self.width, "channels": self.channels, "mode": self.mode}

    @classmethod
    def from_map(cls, m: Any, limits: Limits) -> ImageInfo:
        height = _get(m, "height", int, "image")
        width = _get(m, "width", int, "image")
        limits.check_image(height, width)
        mode = _get_choice(m, "mode", "image", MODES)
        info = cls(height, width, mode)
        _require(_get(m, "channels", int, "image") == info.channels, "image.channels disagrees with mode")
        return info


@dataclass(frozen=True)
class ModelInfo:
    """The auto-encoder's shape and which hidden layer's code the file stores."""

    layers: tuple[int, ...]
    level: int
    block: int = 8
    models: int = 1
    activation: str = "sigmoid"
    profile: str = "paper"

    @property
    def latent_units(self) -> int:
        return self.layers[self.level]

    def decoder_shapes(self) -> list[tuple[int, int]]:
        """(out, in) of each decoder layer from the latent outward."""
        return [(self.layers[i], self.layers[i + 1]) for i in reversed(range(self.level))]

    def decoder_values(self) -> int:
        """Number of weights and biases stored for all models."""
        per_model = sum(out * inp + out for out, inp in self.decoder_shapes())
        return per_model * self.models

    def setting_text(self, quant: QuantInfo) -> str:
        """The settings an encode report names (``saec encode``): the level."""
        return f"level {self.level}"

    def describe(self, header: Header) -> list[str]:
        """The lines ``saec info`` prints for this model. Each model type describes itself, so the CLI does
        not branch on the profile."""
        ratio = self.layers[0] / self.latent_units
        return [
            "profile:     paper (the paper's stacked auto-encoder, trained on this image)",
            f"level:       {self.level} ({self.latent_units} of {self.layers[0]} units per "
            f"{self.block}x{self.block} block, nominal {ratio:g}:1)",
            f"model:       layers {'-'.join(str(u) for u in self.layers)}, {self.models} model(s), "
            f"weights {header.quant.weights}",
        ]

    def to_map(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "block": self.block,
            "layers": list(self.layers),
            "activation": self.activation,
            "level": self.level,
            "models": self.models,
        }

    @classmethod
    def from_map(cls, m: Any, colour_channels: int) -> ModelInfo:
        """The paper profile's model map (``Header.from_map`` has already read ``profile``)."""
        block = _get_int(m, "block", "model", 1, MAX_BLOCK)
        raw_layers = _get(m, "layers", list, "model")
        _require(2 <= len(raw_layers) <= MAX_LAYERS, f"model.layers must have 2..{MAX_LAYERS} entries")
        _require(all(type(u) is int and 1 <= u <= MAX_UNITS for u in raw_layers), "model.layers entries out of range")
        layers = tuple(raw_layers)
        _require(layers[0] == block * block, "model.layers[0] must equal block*block")
        activation = _get_choice(m, "activation", "model", ACTIVATIONS)
        level = _get_int(m, "level", "model", 1, len(layers) - 1)
        models = _get(m, "models", int, "model")
        _require(models in (1, colour_channels), "model.models must be 1 or the number of colour channels")
        return cls(layers, level, block, models, activation)


@dataclass(frozen=True)
class QuantInfo:
    """How latent codes and decoder weights are stored in the payload."""

    latent: str = "u8"
    weights: str = "f32le"

    def to_map(self) -> dict[str, Any]:
        return {"latent": self.latent, "weights": self.weights}

    @classmethod
    def from_map(cls, m: Any) -> QuantInfo:
        return cls(_get_choice(m, "latent", "quant", LATENT_QUANTISERS), _get_choice(m, "weights", "quant", WEIGHT_DTYPES))


@dataclass(frozen=True)
class RdModelInfo:
    """The rd profile's linear auto-encoder: stock DCT-II decoder weights over the planes of a colour transform.

    ``chroma`` "420" halves both sides of the Cb and Cr planes; ``deblock`` is the edge filter's threshold in
    sixteenths of each plane's quantiser step (0: off).
    """

    colour: str
    chroma: str = "444"
    deblock: int = 0
    transform: str = "dct-ii"
    block: int = 8
    profile: str = "rd"

    @property
    def planes(self) -> int:
        return 3 if self.colour == "ycbcr" else 1

    @property
    def plane_names(self) -> tuple[str, ...]:
        return ("y", "cb", "cr") if self.colour == "ycbcr" else ("y",)

    def plane_shapes(self, image: ImageInfo) -> list[tuple[int, int]]:
        """(rows, columns) of every plane before padding to whole blocks."""
        shapes = [(image.height, image.width)]
        if self.colour == "ycbcr":
            sub = self.chroma == "420"
            chroma = ((image.height + 1) // 2, (image.width + 1) // 2) if sub else (image.height, image.width)
            shapes += [chroma, chroma]
        return shapes

    def setting_text(self, quant: RdQuantInfo) -> str:
        """The settings an encode report names beside the rate: the luma step and the chroma layout."""
        return f"step {quant.step(0):g}, chroma {self.chroma}"

    def describe(self, header: Header) -> list[str]:
        """The lines ``saec info`` prints for this model."""
        quant = header.quant
        steps = ", ".join(f"{name} {quant.step(i):g}" for i, name in enumerate(self.plane_names))
        colour = f"ycbcr {self.chroma}" if self.colour == "ycbcr" else self.colour
        return [
            f"profile:     rd ({colour}, {self.transform} {self.block}x{self.block} stock weights, "
            f"{quant.latent} entropy coder)",
            f"quantiser:   steps {steps}; deblocking {self.deblock}/16 of the step "
            "(steps in pixel levels; the header stores sixteenths)",
        ]

    def to_map(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "block": self.block,
            "transform": self.transform,
            "colour": self.colour,
            "chroma": self.chroma,
            "deblock": self.deblock,
        }

    @classmethod
    def from_map(cls, m: Any, image: ImageInfo) -> RdModelInfo:
        if _get(m, "block", int, "model") != 8:  # a later version may add block sizes: unsupported, not malformed
            raise UnsupportedFeatureError(f"unsupported model.block {m['block']} in the rd profile (known: 8)")
        transform = _get_choice(m, "transform", "model", RD_TRANSFORMS)
        colour = _get_choice(m, "colour", "model", RD_COLOURS)
        _require((colour == "ycbcr") == (image.colour_channels == 3), f"model.colour {colour!r} disagrees with mode")
        chroma = _get_choice(m, "chroma", "model", RD_CHROMA)
        _require(colour == "ycbcr" or chroma == "444", "model.chroma must be '444' for grey images")
        deblock = _get_int(m, "deblock", "model", 0, RD_DEBLOCK_MAX)
        return cls(colour, chroma, deblock, transform)


@dataclass(frozen=True)
class RdQuantInfo:
    """Quantiser steps (in sixteenths of a pixel level, one per plane) and the latent grid's entropy coder."""

    steps: tuple[int, ...]
    latent: str = "rc1"

    def step(self, plane: int) -> float:
        return self.steps[plane] / 16.0

    def to_map(self) -> dict[str, Any]:
        return {"latent": self.latent, "steps": list(self.steps)}

    @classmethod
    def from_map(cls, m: Any, planes: int) -> RdQuantInfo:
        latent = _get_choice(m, "latent", "quant", RD_LATENTS)
        raw = _get(m, "steps", list, "quant")
        _require(len(raw) == planes, f"quant.steps must hold {planes} entries")
        _require(
            all(type(v) is int and RD_STEP_MIN <= v <= RD_STEP_MAX for v in raw),
            f"quant.steps entries must be integers {RD_STEP_MIN}..{RD_STEP_MAX}",
        )
        return cls(tuple(raw), latent)


@dataclass(frozen=True)
class OverfitModelInfo:
    """The overfit profile's decoder: latent grids at ``levels`` resolutions (channels per level; level l is
    ceil(H / 2^l) x ceil(W / 2^l)), bilinearly up-sampled and fed per pixel to a 1x1 network with ``hidden``
    ReLU layers, then ``residual`` 3x3 residual layers on the colour channels (spec section 11)."""

    colour: str
    levels: tuple[int, ...]
    hidden: tuple[int, ...]
    residual: int
    upsample: str = "bilinear"
    arithmetic: str = "f32"
    profile: str = "overfit"

    @property
    def channels(self) -> int:
        return 3 if self.colour == "rgb" else 1

    @property
    def inputs(self) -> int:
        """Values per pixel the 1x1 network takes: one per latent channel."""
        return sum(self.levels)

    def setting_text(self, quant: OverfitQuantInfo) -> str:
        """The settings an encode report names beside the rate and effort: the decoder's work a pixel."""
        return f"{self.macs_per_pixel()} multiply-adds a pixel"

    def describe(self, header: Header) -> list[str]:
        """The lines ``saec info`` prints for this model."""
        shapes = self.grid_shapes(header.image)
        grids = ", ".join(f"{h}x{w}" for h, w in shapes)
        layers = "-".join(str(n) for n in (self.inputs, *self.hidden, self.channels))
        return [
            f"profile:     overfit (latent grids and a synthesis network trained on this image, "
            f"{header.quant.latent} entropy coder)",
            f"latents:     {len(shapes)} grids ({grids}), {header.section_length('latents')} bytes",
            f"network:     1x1 layers {layers}, {self.residual} residual 3x3 layer(s), "
            f"{self.macs_per_pixel()} multiply-adds a pixel, {header.section_length('weights')} bytes of weights",
        ]

    def grid_shapes(self, image: ImageInfo) -> list[tuple[int, int]]:
        """(rows, columns) of every latent grid, level by level, channels of a level consecutive."""
        return [(-(-image.height // 2**level), -(-image.width // 2**level))
                for level, count in enumerate(self.levels) for _ in range(count)]

    def latent_count(self, image: ImageInfo) -> int:
        return sum(h * w for h, w in self.grid_shapes(image))

    def layer_shapes(self) -> list[tuple[int, int]]:
        """(out, in) of each 1x1 layer, first to last (the last outputs the colour channels)."""
        sizes = [self.inputs, *self.hidden, self.channels]
        return [(sizes[k + 1], sizes[k]) for k in range(len(sizes) - 1)]

    def tensor_shapes(self) -> list[tuple[int, ...]]:
        """Each stored tensor's shape, in file order: W_k (out, in) and b_k (out,) per 1x1 layer, then K_r
        (C, C, 3, 3) and bias_r (C,) per residual layer (row-major, as spec section 11 lays them out)."""
        shapes: list[tuple[int, ...]] = []
        for out, inp in self.layer_shapes():
            shapes += [(out, inp), (out,)]
        c = self.channels
        return shapes + [(c, c, 3, 3), (c,)] * self.residual

    def tensor_sizes(self) -> list[int]:
        """Values of each stored tensor, in file order."""
        return [math.prod(shape) for shape in self.tensor_shapes()]

    def macs_per_pixel(self) -> int:
        """Multiply-adds per pixel: the 1x1 layers, the 3x3 layers and 4 per up-sampled latent channel."""
        mlp = sum(out * inp for out, inp in self.layer_shapes())
        return mlp + self.residual * 9 * self.channels**2 + 4 * sum(self.levels[1:])

    def check_limits(self, image: ImageInfo, limits: Limits) -> None:
        """Work, width and latents a pixel against ``limits`` (the reader's check and the writer's)."""
        limits.check_overfit_model(self.macs_per_pixel(), max(self.hidden, default=0), self.latent_count(image),
                                   image.height * image.width)

    def to_map(self) -> dict[str, Any]:
        return {
            "profile": self.profile,
            "colour": self.colour,
            "levels": list(self.levels),
            "hidden": list(self.hidden),
            "residual": self.residual,
            "upsample": self.upsample,
            "arithmetic": self.arithmetic,
        }

    @classmethod
    def from_map(cls, m: Any, image: ImageInfo, limits: Limits) -> OverfitModelInfo:
        colour = _get_choice(m, "colour", "model", OVERFIT_COLOURS)
        _require((colour == "rgb") == (image.colour_channels == 3), f"model.colour {colour!r} disagrees with mode")
        levels = _get(m, "levels", list, "model")
        _require(1 <= len(levels) <= OVERFIT_MAX_LEVELS, f"model.levels must have 1..{OVERFIT_MAX_LEVELS} entries")
        _require(all(type(n) is int and 0 <= n <= OVERFIT_MAX_LEVEL_CHANNELS for n in levels),
                 f"model.levels entries must be integers 0..{OVERFIT_MAX_LEVEL_CHANNELS}")
        _require(sum(levels) >= 1, "model.levels must give at least one latent channel")
        hidden = _get(m, "hidden", list, "model")
        _require(len(hidden) <= OVERFIT_MAX_HIDDEN_LAYERS, f"model.hidden has more than {OVERFIT_MAX_HIDDEN_LAYERS} layers")
        _require(all(type(n) is int and 1 <= n <= OVERFIT_MAX_WIDTH for n in hidden),
                 f"model.hidden entries must be integers 1..{OVERFIT_MAX_WIDTH}")
        residual = _get_int(m, "residual", "model", 0, OVERFIT_MAX_RESIDUAL)
        upsample = _get_choice(m, "upsample", "model", OVERFIT_UPSAMPLING)
        arithmetic = _get_choice(m, "arithmetic", "model", OVERFIT_ARITHMETIC)
        model = cls(colour, tuple(levels), tuple(hidden), residual, upsample, arithmetic)
        model.check_limits(image, limits)
        return model


@dataclass(frozen=True)
class OverfitQuantInfo:
    """Weight steps (2^-shift per stored tensor) and the entropy coder of the weights and latent streams."""

    shifts: tuple[int, ...]
    latent: str = "lc1"
    weights: str = "lc1"

    def steps(self) -> list[float]:
        return [2.0 ** -shift for shift in self.shifts]

    def to_map(self) -> dict[str, Any]:
        return {"latent": self.latent, "weights": self.weights, "shifts": list(self.shifts)}

    @classmethod
    def from_map(cls, m: Any, tensors: int) -> OverfitQuantInfo:
        latent = _get_choice(m, "latent", "quant", OVERFIT_CODERS)
        weights = _get_choice(m, "weights", "quant", OVERFIT_CODERS)
        raw = _get(m, "shifts", list, "quant")
        _require(len(raw) == tensors, f"quant.shifts must hold {tensors} entries (one per stored tensor)")
        _require(all(type(v) is int and 0 <= v <= OVERFIT_MAX_SHIFT for v in raw),
                 f"quant.shifts entries must be integers 0..{OVERFIT_MAX_SHIFT}")
        return cls(tuple(raw), latent, weights)


@dataclass(frozen=True)
class KdfParams:
    """How the master key is obtained: a 256-bit secret key used as is, or scrypt over a password."""

    name: str = "secret-key"
    salt: bytes = b""
    log2_n: int = 0
    r: int = 0
    p: int = 0

    def to_map(self) -> dict[str, Any]:
        if self.name == "secret-key":
            return {"name": self.name}
        return {"name": self.name, "salt": self.salt, "log2_n": self.log2_n, "r": self.r, "p": self.p}

    @classmethod
    def from_map(cls, m: Any, limits: Limits) -> KdfParams:
        name = _get_choice(m, "name", "crypto.kdf", KDFS)
        if name == "secret-key":
            return cls(name)
        salt = _get(m, "salt", bytes, "crypto.kdf")
        _require(len(salt) == SCRYPT_SALT_BYTES, f"crypto.kdf.salt must be {SCRYPT_SALT_BYTES} bytes")
        log2_n = _get(m, "log2_n", int, "crypto.kdf")
        r = _get(m, "r", int, "crypto.kdf")
        p = _get(m, "p", int, "crypto.kdf")
        limits.check_scrypt(log2_n, r, p)
        return cls(name, salt, log2_n, r, p)


@dataclass(frozen=True)
class CryptoInfo:
    """Everything needed to derive the file's keys and check its tag: KDF, per-file nonce, cipher suite, and
    whether the tag also covers a context (associated data the reader must supply; never stored)."""

    cipher: str
    kdf: KdfParams
    nonce: bytes = field(repr=False)
    context_bound: bool = False

    def to_map(self) -> dict[str, Any]:
        m: dict[str, Any] = {"cipher": self.cipher, "kdf": self.kdf.to_map(), "nonce": self.nonce}
        if self.context_bound:
            m["context"] = True
        return m

    @classmethod
    def from_map(cls, m: Any, limits: Limits) -> CryptoInfo:
        """Parse the fields key derivation and the tag need; the cipher name is checked by ``check_cipher``."""
        cipher = _get(m, "cipher", str, "crypto")
        kdf = KdfParams.from_map(_get(m, "kdf", dict, "crypto"), limits)
        nonce = _get(m, "nonce", bytes, "crypto")
        _require(len(nonce) == NONCE_BYTES, f"crypto.nonce must be {NONCE_BYTES} bytes")
        bound = "context" in m
        if bound:
            _require(m["context"] is True, "crypto.context must be true when present")
        return cls(cipher, kdf, nonce, bound)

    @classmethod
    def from_header_map(cls, m: Any, limits: Limits) -> CryptoInfo:
        """The crypto fields of a whole header map: all a reader needs before it can check the tag."""
        return cls.from_map(_get(m, "crypto", dict, "header"), limits)

    def check_cipher(self) -> None:
        if self.cipher not in CIPHERS:
            raise UnsupportedFeatureError(f"unsupported cipher suite {self.cipher!r} (known: {', '.join(CIPHERS)})")


@dataclass(frozen=True)
class Header:
    """The validated header of a .saec file; ``model`` and ``quant`` take the profile's shape."""

    image: ImageInfo
    model: ModelInfo | RdModelInfo | OverfitModelInfo
    quant: QuantInfo | RdQuantInfo | OverfitQuantInfo
    crypto: CryptoInfo
    sections: tuple[tuple[str, int], ...]
    version: tuple[int, int] = PAPER_VERSION

    @property
    def profile(self) -> str:
        return self.model.profile

    @property
    def blocks_high(self) -> int:
        return math.ceil(self.image.height / self.model.block)

    @property
    def blocks_wide(self) -> int:
        return math.ceil(self.image.width / self.model.block)

    def latent_bytes(self) -> int:
        """Bytes of latent data: the 8-bit grid (paper), the entropy-coded planes (rd) or grids (overfit)."""
        if isinstance(self.model, OverfitModelInfo):
            return self.section_length("latents")
        if isinstance(self.model, RdModelInfo):
            return sum(self.section_length(name) for name in self.model.plane_names)
        return self.image.colour_channels * self.blocks_high * self.blocks_wide * self.model.latent_units

    def decoder_bytes(self) -> int:
        """Bytes of stored decoder weights (the rd profile's stock weights cost none)."""
        if isinstance(self.model, OverfitModelInfo):
            return self.section_length("weights")
        if isinstance(self.model, RdModelInfo) or not isinstance(self.quant, QuantInfo):
            return 0
        return self.model.decoder_values() * WEIGHT_DTYPES[self.quant.weights]

    def expected_section_names(self) -> tuple[str, ...]:
        """The sections every file of this profile and mode has (an optional ``meta`` may follow them)."""
        if isinstance(self.model, OverfitModelInfo):
            names: tuple[str, ...] = ("weights", "latents")
        elif isinstance(self.model, RdModelInfo):
            names = self.model.plane_names
        else:
            names = ("decoder", "latent")
        return names + ("alpha",) if self.image.has_alpha else names

    @property
    def has_metadata(self) -> bool:
        return bool(self.sections) and self.sections[-1][0] == "meta"

    def section_length(self, name: str) -> int:
        return dict(self.sections)[name]

    @property
    def payload_length(self) -> int:
        return sum(length for _, length in self.sections)

    def to_map(self) -> dict[str, Any]:
        return {
            "format": list(self.version),
            "image": self.image.to_map(),
            "model": self.model.to_map(),
            "quant": self.quant.to_map(),
            "crypto": self.crypto.to_map(),
            "sections": [[name, length] for name, length in self.sections],
        }

    def to_json_dict(self) -> dict[str, Any]:
        """A JSON-friendly view for ``saec info --json`` (bytes as hex; nonces and salts are not secret)."""

        def convert(value: Any) -> Any:
            if isinstance(value, bytes):
                return value.hex()
            if isinstance(value, dict):
                return {k: convert(v) for k, v in value.items()}
            if isinstance(value, list):
                return [convert(v) for v in value]
            return value

        out = convert(self.to_map())
        derived: dict[str, Any] = {"latent_bytes": self.latent_bytes(), "decoder_bytes": self.decoder_bytes()}
        if isinstance(self.model, OverfitModelInfo):
            derived["latent_grids"] = [list(shape) for shape in self.model.grid_shapes(self.image)]
            derived["macs_per_pixel"] = self.model.macs_per_pixel()
        else:  # the block profiles
            derived = {"blocks_high": self.blocks_high, "blocks_wide": self.blocks_wide, **derived}
        if isinstance(self.model, ModelInfo):
            derived["latent_units"] = self.model.latent_units
            derived["nominal_ratio"] = self.model.layers[0] / self.model.latent_units
        out["derived"] = derived
        return out

    @classmethod
    def from_map(cls, m: Any, version: tuple[int, int], limits: Limits = DEFAULT_LIMITS) -> Header:
        _require(isinstance(m, dict), "header is not a map")
        fmt = _get(m, "format", list, "header")
        _require(len(fmt) == 2 and all(type(v) is int for v in fmt), "header.format must be [major, minor]")
        _require(tuple(fmt) == version, "header.format disagrees with the preamble's version")
        image = ImageInfo.from_map(_get(m, "image", dict, "header"), limits)
        model_map = _get(m, "model", dict, "header")
        profile = _get_choice(model_map, "profile", "model", PROFILES)
        _require(tuple(fmt) >= PROFILES[profile], f"profile {profile!r} needs format version "
                 f"{PROFILES[profile][0]}.{PROFILES[profile][1]} or later")
        quant_map = _get(m, "quant", dict, "header")
        model: ModelInfo | RdModelInfo | OverfitModelInfo
        quant: QuantInfo | RdQuantInfo | OverfitQuantInfo
        if profile == "overfit":
            model = OverfitModelInfo.from_map(model_map, image, limits)
            quant = OverfitQuantInfo.from_map(quant_map, len(model.tensor_sizes()))
        elif profile == "rd":
            model = RdModelInfo.from_map(model_map, image)
            quant = RdQuantInfo.from_map(quant_map, model.planes)
        else:
            model = ModelInfo.from_map(model_map, image.colour_channels)
            limits.check_paper_model(model.block, model.layers, model.level)
            quant = QuantInfo.from_map(quant_map)
        crypto = CryptoInfo.from_header_map(m, limits)
        crypto.check_cipher()
        _require(not crypto.context_bound or tuple(fmt) >= CONTEXT_VERSION,
                 "crypto.context needs format version 1.2 or later")
        header = cls(image, model, quant, crypto, parse_sections(m), tuple(fmt))
        header._check_sections(limits)
        return header

    def _check_sections(self, limits: Limits) -> None:
        names = tuple(name for name, _ in self.sections)
        expected = self.expected_section_names()
        if self.has_metadata:
            _require(self.version >= METADATA_VERSION, "a meta section needs format version 1.2 or later")
            expected += ("meta",)
        _require(names == expected, f"sections must be {list(expected)}")
        if isinstance(self.model, OverfitModelInfo):
            for name in ("weights", "latents"):
                _require(self.section_length(name) >= LC1_MIN_BYTES, f"section {name!r} is shorter than a coded stream")
        elif isinstance(self.model, RdModelInfo):
            for name in self.model.plane_names:
                _require(self.section_length(name) >= RC1_MIN_BYTES, f"section {name!r} is shorter than a coded plane")
        else:
            _require(self.section_length("decoder") == self.decoder_bytes(), "decoder section length is inconsistent")
            _require(self.section_length("latent") == self.latent_bytes(), "latent section length is inconsistent")
        if self.image.has_alpha:
            alpha = self.section_length("alpha")
            _require(alpha >= 1, "alpha section is empty")
            if alpha > limits.max_alpha_bytes:
                raise LimitExceededError(f"alpha section of {alpha} bytes exceeds the limit")
        if self.has_metadata:
            meta = self.section_length("meta")
            _require(meta >= 1, "meta section is empty")
            if meta > limits.max_metadata_bytes:
                raise LimitExceededError(f"meta section of {meta} bytes exceeds the limit of {limits.max_metadata_bytes}")


def parse_sections(m: Any) -> tuple[tuple[str, int], ...]:
    """The ``sections`` array as (name, length) pairs; only its structure is checked here.

    Readers need the payload length before anything else (to tell a truncated file from a forged one), so
    this is separate from the rest of the header's validation.
    """
    raw_sections = _get(m, "sections", list, "header")
    sections = []
    for entry in raw_sections:
        _require(
            type(entry) is list and len(entry) == 2 and type(entry[0]) is str and type(entry[1]) is int,
            "header.sections entries must be [name, length]",
        )
        _require(entry[1] >= 0, "section length is negative")
        sections.append((entry[0], entry[1]))
    return tuple(sections)


def pack_header(header: Header) -> bytes:
    """Serialise with msgpack (str keys, bin for bytes); the key order of ``to_map`` is the spec's order."""
    return msgpack.packb(header.to_map(), use_bin_type=True)


def _strict_map(pairs: list[tuple[Any, Any]]) -> dict[str, Any]:
    """A header map: every key a str (not bin, not an int), none twice (a duplicate would let two readers
    that keep the first or the last value see different headers under one tag)."""
    mapping: dict[str, Any] = {}
    for key, value in pairs:
        if type(key) is not str:
            raise FormatError("invalid header: a map key is not a string")
        if key in mapping:
            raise FormatError(f"invalid header: duplicate map key {key!r}")
        mapping[key] = value
    return mapping


def unpack_header_map(data: bytes) -> dict[str, Any]:
    """Decode the header bytes into a map, rejecting anything msgpack or its size rules refuse."""
    try:
        value = msgpack.unpackb(
            data,
            raw=False,
            strict_map_key=True,
            object_pairs_hook=_strict_map,
            use_list=True,
            max_str_len=len(data),
            max_bin_len=len(data),
            max_array_len=len(data),
            max_map_len=len(data),
            max_ext_len=0,
        )
    except (ValueError, TypeError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError, RecursionError) as exc:
        raise FormatError(f"header is not valid msgpack ({type(exc).__name__})") from None
    if not isinstance(value, dict):
        raise FormatError("invalid header: header is not a map")
    return value
