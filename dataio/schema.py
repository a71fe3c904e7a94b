"""The feature schema of the released Tencent Look-alike format, defined once.

Field names, list lengths, the layout of the network's four input arrays and
the order of the embedding tables live here; everything else (readers,
cache, localisation, the network, the generators) derives its positions
from these. The id maxima are per dataset and come from
``hyper_parameters.max_idxs`` in the config, in the order ``[static,
dynamic, ad]`` of the lists below.
"""
from dataclasses import dataclass
from typing import Sequence

LABEL_COL = "label"
AID_COL = "aid"

STATIC_FIELDS = ("carrier", "consumptionAbility", "LBS", "age", "education",
                 "gender", "house")
# (field, list length): the order is the order of the concatenated [B, 50]
# dynamic id block the network receives.
DYNAMIC_FIELDS = (("interest1", 10), ("interest2", 10), ("interest3", 10),
                  ("kw1", 5), ("kw2", 5), ("topic1", 5), ("topic2", 5))
AD_FIELDS = ("advertiserId", "campaignId", "creativeSize", "adCategoryId",
             "productId", "productType")

DYNAMIC_NAMES = tuple(name for name, _ in DYNAMIC_FIELDS)
DYNAMIC_LENGTHS = tuple(length for _, length in DYNAMIC_FIELDS)
LENGTH_COLS = tuple(name + "_length" for name in DYNAMIC_NAMES)
DYNAMIC_WIDTH = sum(DYNAMIC_LENGTHS)
# start offset of each dynamic field inside the [B, DYNAMIC_WIDTH] block
DYNAMIC_OFFSETS = tuple(sum(DYNAMIC_LENGTHS[:i]) for i in range(len(DYNAMIC_FIELDS)))

ALL_COLUMNS = ((LABEL_COL, AID_COL) + STATIC_FIELDS + DYNAMIC_NAMES +
               LENGTH_COLS + AD_FIELDS)

# One network input is four int arrays, in this order (the "slots"): static
# ids [N, 7], the dynamic id block [N, 50], the dynamic lengths [N, 7] and the
# ad ids [N, 6]. The cache stores them side by side as one [N, 70] block.
STATIC_SLOT, DYNAMIC_SLOT, LENGTHS_SLOT, AD_SLOT = range(4)
INPUT_WIDTHS = (len(STATIC_FIELDS), DYNAMIC_WIDTH, len(LENGTH_COLS),
                len(AD_FIELDS))
INPUT_SLICES = tuple(slice(sum(INPUT_WIDTHS[:i]), sum(INPUT_WIDTHS[:i + 1]))
                     for i in range(len(INPUT_WIDTHS)))


@dataclass(frozen=True)
class Table:
    """One embedding table: the field it embeds, its group ("static",
    "dynamic", "ad") and index within the group, and where its ids are in
    the input (``slot`` and ``columns``; several columns for a list)."""
    field: str
    group: str
    index: int
    slot: int
    columns: slice


# every embedding table, in the order of max_idxs (static, dynamic, ad)
TABLES = tuple(
    [Table(name, "static", i, STATIC_SLOT, slice(i, i + 1))
     for i, name in enumerate(STATIC_FIELDS)] +
    [Table(name, "dynamic", j, DYNAMIC_SLOT,
           slice(DYNAMIC_OFFSETS[j], DYNAMIC_OFFSETS[j] + width))
     for j, (name, width) in enumerate(DYNAMIC_FIELDS)] +
    [Table(name, "ad", k, AD_SLOT, slice(k, k + 1))
     for k, name in enumerate(AD_FIELDS)])


@dataclass(frozen=True)
class IdMaxima:
    """Inclusive id maxima per field; embedding tables have max + 1 rows."""
    static: Sequence[int]
    dynamic: Sequence[int]
    ad: Sequence[int]

    @classmethod
    def from_config(cls, max_idxs) -> "IdMaxima":
        expected = (len(STATIC_FIELDS), len(DYNAMIC_FIELDS), len(AD_FIELDS))
        if (not isinstance(max_idxs, (list, tuple)) or len(max_idxs) != 3 or
                tuple(len(m) for m in max_idxs) != expected):
            raise ValueError(
                "hyper_parameters.max_idxs must be three lists of %d static, "
                "%d dynamic and %d ad id maxima; got %r" %
                (expected + (max_idxs, )))
        for group in max_idxs:
            for value in group:
                if not isinstance(value, int) or value < 0:
                    raise ValueError(
                        "hyper_parameters.max_idxs holds %r; every maximum "
                        "must be a non-negative integer" % (value, ))
        return cls(*(tuple(int(v) for v in group) for group in max_idxs))

    def by_field(self):
        """(column name, maximum) for every id field, in TABLES order."""
        return list(zip([t.field for t in TABLES], list(self.static) +
                        list(self.dynamic) + list(self.ad)))
