"""The feature schema of the released Tencent Look-alike format, defined once.

Field names, list lengths and the column layout live here; the id maxima are
per dataset and come from ``hyper_parameters.max_idxs`` in the config, in the
order ``[static, dynamic, ad]`` of the lists below.
"""
from dataclasses import dataclass
from typing import List, Sequence

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

# the four arrays of one model input, in the order the network takes them
INPUT_KEYS = ("static", "dynamic", "lengths", "ad")


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

    def as_lists(self) -> List[List[int]]:
        return [list(self.static), list(self.dynamic), list(self.ad)]

    def by_field(self):
        """(column name, maximum) for every id field, static, dynamic, ad."""
        names = STATIC_FIELDS + DYNAMIC_NAMES + AD_FIELDS
        return list(zip(names, list(self.static) + list(self.dynamic) +
                        list(self.ad)))
