"""Small real datasets shipped with jaxglm, loaded with numpy alone.

Each dataset is a CSV exported unchanged from R 4.2.2's `datasets` or `MASS` package
(provenance and licences in `jaxglm/data/README.md`). `load(name)` returns a dict of
columns: numeric columns as float64 arrays, factor columns as arrays of their labels.
`levels(name)` gives each factor's level order as R defines it.
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any

import numpy as np

__all__ = [
    "insurance_design",
    "levels",
    "list_datasets",
    "load",
    "load_anorexia",
    "load_esoph",
    "load_housing",
    "load_infert",
    "load_insectsprays",
    "load_insurance",
    "load_menarche",
    "load_mtcars",
    "load_quine",
    "load_ships",
    "load_snails",
    "load_trees",
    "load_warpbreaks",
]

# The data folder is not a package; reach it through jaxglm, which is.
DATA_ROOT = ("jaxglm", "data")

# R's level order for every factor column (R's `levels()`); alphabetical unless the
# source defined an order. ORDERED_FACTORS lists those that are ordered factors in R.
LEVELS: dict[str, dict[str, tuple[str, ...]]] = {
    "anorexia": {"Treat": ("CBT", "Cont", "FT")},
    "esoph": {
        "agegp": ("25-34", "35-44", "45-54", "55-64", "65-74", "75+"),
        "alcgp": ("0-39g/day", "40-79", "80-119", "120+"),
        "tobgp": ("0-9g/day", "10-19", "20-29", "30+"),
    },
    "housing": {
        "Sat": ("Low", "Medium", "High"),
        "Infl": ("Low", "Medium", "High"),
        "Type": ("Tower", "Apartment", "Atrium", "Terrace"),
        "Cont": ("Low", "High"),
    },
    "infert": {"education": ("0-5yrs", "6-11yrs", "12+ yrs")},
    "insectsprays": {"spray": ("A", "B", "C", "D", "E", "F")},
    "insurance": {
        "District": ("1", "2", "3", "4"),
        "Group": ("<1l", "1-1.5l", "1.5-2l", ">2l"),
        "Age": ("<25", "25-29", "30-35", ">35"),
    },
    "menarche": {},
    "mtcars": {},
    "quine": {
        "Eth": ("A", "N"),
        "Sex": ("F", "M"),
        "Age": ("F0", "F1", "F2", "F3"),
        "Lrn": ("AL", "SL"),
    },
    "ships": {"type": ("A", "B", "C", "D", "E")},
    "snails": {"Species": ("A", "B")},
    "trees": {},
    "warpbreaks": {"wool": ("A", "B"), "tension": ("L", "M", "H")},
}
ORDERED_FACTORS: dict[str, tuple[str, ...]] = {
    "esoph": ("agegp", "alcgp", "tobgp"),
    "housing": ("Sat",),
    "insurance": ("Group", "Age"),
}

# One field of an R `write.csv` line: a quoted string ("" escapes a quote) or a bare
# token. Quoting is how R marks a column as character/factor, so we keep that fact.
_FIELD = re.compile(r'\s*(?:"((?:[^"]|"")*)"|([^,]*))\s*(?:,|$)')
_NA_TOKENS = frozenset({"", "NA"})


def list_datasets() -> list[str]:
    """Names of the shipped datasets, for `load(name)`."""
    return sorted(LEVELS)


def _split_line(line: str) -> list[tuple[str, bool]]:
    fields = []
    position = 0
    while True:
        match = _FIELD.match(line, position)
        if match is None:  # pragma: no cover - the pattern matches any remainder
            raise ValueError(f"cannot parse CSV line {line!r}")
        quoted, bare = match.groups()
        if quoted is not None:
            fields.append((quoted.replace('""', '"'), True))
        else:
            fields.append((bare, False))
        position = match.end()
        if position >= len(line):
            if match.group(0).rstrip().endswith(","):
                fields.append(("", False))  # a trailing comma ends with an empty field
            return fields


def _column(name: str, values: list[tuple[str, bool]]) -> np.ndarray:
    tokens = [value for value, _ in values]
    missing = [not quoted and value in _NA_TOKENS for value, quoted in values]
    if any(quoted for _, quoted in values):
        if any(missing):
            return np.array(
                [None if na else v for v, na in zip(tokens, missing, strict=True)],
                dtype=object,
            )
        return np.array(tokens, dtype=str)
    try:
        return np.array(
            [np.nan if na else float(v) for v, na in zip(tokens, missing, strict=True)],
            dtype=np.float64,
        )
    except ValueError as error:
        raise ValueError(f"column {name!r} has a non-numeric bare value") from error


def _canonical(name: str) -> str:
    key = str(name).lower().removesuffix(".csv")
    if key not in LEVELS:
        raise ValueError(
            f"unknown dataset {name!r}; choose one of {', '.join(list_datasets())}"
        )
    return key


def load(name: str, as_frame: bool = False) -> Any:
    """Load a shipped dataset by name.

    Missing values (R's unquoted `NA`) become NaN in numeric columns and None in
    label columns; the shipped files have none.

    Args:
        name: dataset name from `list_datasets()`, case-insensitive.
        as_frame: return a pandas DataFrame (needs pandas) whose factor columns are
            categoricals with R's level order, instead of a dict of numpy arrays.

    Returns:
        dict mapping column name to a (n,) array, in file order: float64 for numeric
        columns, str (object where NA) for factor columns. A DataFrame if `as_frame`.

    Raises:
        ValueError: if `name` is not a shipped dataset.
    """
    key = _canonical(name)
    package, folder = DATA_ROOT
    path = resources.files(package) / folder / f"{key}.csv"
    text = path.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if line.strip()]
    header = [value for value, _ in _split_line(lines[0])]
    rows = [_split_line(line) for line in lines[1:]]
    for number, row in enumerate(rows, start=2):
        if len(row) != len(header):
            raise ValueError(
                f"{key}.csv line {number} has {len(row)} fields, expected {len(header)}"
            )
    data = {
        column: _column(column, [row[j] for row in rows])
        for j, column in enumerate(header)
    }
    if not as_frame:
        return data
    import pandas as pd

    frame = pd.DataFrame(data)
    for column, order in LEVELS[key].items():
        frame[column] = pd.Categorical(frame[column], categories=list(order))
    return frame


def levels(name: str) -> dict[str, tuple[str, ...]]:
    """R's level order for each factor column of a dataset (R's `levels()`).

    Args:
        name: dataset name from `list_datasets()`.

    Returns:
        dict mapping each factor column to its levels, first level = R's baseline.
    """
    return dict(LEVELS[_canonical(name)])


def load_anorexia(as_frame: bool = False) -> Any:
    """Weight change of 72 young women under three treatments for anorexia.

    Columns Treat (CBT, Cont, FT), Prewt, Postwt (lbs). Source: R package MASS,
    `anorexia`; Hand, Daly, McConway, Lunn & Ostrowski (1993) A Handbook of Small
    Data Sets, data set 285.
    """
    return load("anorexia", as_frame)


def load_esoph(as_frame: bool = False) -> Any:
    """Case-control study of oesophageal cancer in Ille-et-Vilaine, France.

    Columns agegp, alcgp, tobgp (ordered factors in R), ncases, ncontrols. Source: R
    package datasets, `esoph`; Breslow & Day (1980) Statistical Methods in Cancer
    Research, Vol. 1, IARC.
    """
    return load("esoph", as_frame)


def load_housing(as_frame: bool = False) -> Any:
    """Satisfaction with housing of 1681 Copenhagen residents, as 72 cell counts.

    Columns Sat (Low, Medium, High: the response), Infl (perceived influence on
    management: Low, Medium, High), Type (Tower, Apartment, Atrium, Terrace),
    Cont (contact with other residents: Low, High), Freq (residents in the
    cell: the weights).  The multinomial example: ``Sat ~ Infl + Type + Cont``
    with weights Freq.  Source: R package MASS, ``housing``; Madsen (1976)
    *Scand. J. Statist.* 3, 97-106.
    """
    return load("housing", as_frame)


def load_infert(as_frame: bool = False) -> Any:
    """Infertility after spontaneous and induced abortion, matched case-control.

    Columns education, age, parity, induced, case, spontaneous, stratum,
    pooled.stratum. Source: R package datasets, `infert`; Trichopoulos et al. (1976)
    Br. J. Obstet. Gynaecol. 83, 645-650.
    """
    return load("infert", as_frame)


def load_insectsprays(as_frame: bool = False) -> Any:
    """Counts of insects in agricultural units treated with six insecticides.

    Columns count, spray (A-F). Source: R package datasets, `InsectSprays`; Beall
    (1942) Biometrika 29, 243-262.
    """
    return load("insectsprays", as_frame)


def load_insurance(as_frame: bool = False) -> Any:
    """Motor insurance claims in 64 cells of District x car Group x driver Age.

    Columns District, Group, Age, Holders (policyholders, the exposure), Claims.
    Source: R package MASS, `Insurance`; Baxter, Coutts & Ross (1980) Applications of
    linear models in motor insurance, Proc. 21st Int. Congress of Actuaries, 11-29.
    """
    return load("insurance", as_frame)


def load_menarche(as_frame: bool = False) -> Any:
    """Age at menarche of 3918 Warsaw girls, grouped by age.

    Columns Age (group mean age), Total, Menarche (number who had reached it).
    Source: R package MASS, `menarche`; Milicer & Szczotka (1966) Human Biology 38,
    199-203.
    """
    return load("menarche", as_frame)


def load_mtcars(as_frame: bool = False) -> Any:
    """Motor Trend road tests of 32 cars (1973-74 models).

    Columns model (R's row names), mpg, cyl, disp, hp, drat, wt, qsec, vs, am, gear,
    carb. Source: R package datasets, `mtcars`; Henderson & Velleman (1981)
    Biometrics 37, 391-411.
    """
    return load("mtcars", as_frame)


def load_quine(as_frame: bool = False) -> Any:
    """Days absent from school of 146 children in New South Wales.

    Columns Eth, Sex, Age, Lrn, Days. Source: R package MASS, `quine`; Quine (1975)
    via Aitkin (1978) J. R. Statist. Soc. A 141, 195-223.
    """
    return load("quine", as_frame)


def load_ships(as_frame: bool = False) -> Any:
    """Damage incidents of cargo ships by type, construction year and period.

    Columns type, year, period, service (aggregate months of service), incidents.
    Six rows have service 0; the usual Poisson fit drops them. Source: R package
    MASS, `ships`; McCullagh & Nelder (1989) Generalized Linear Models, 2nd ed.,
    section 6.3.2.
    """
    return load("ships", as_frame)


def load_snails(as_frame: bool = False) -> Any:
    """Deaths of snails of two species under controlled climate conditions.

    Columns Species, Exposure (weeks), Rel.Hum, Temp, Deaths, N. Source: R package
    MASS, `snails`; Zoology Department, University of Adelaide, via Venables &
    Ripley (2002) Modern Applied Statistics with S.
    """
    return load("snails", as_frame)


def load_trees(as_frame: bool = False) -> Any:
    """Girth, height and timber volume of 31 felled black cherry trees.

    Columns Girth (in), Height (ft), Volume (cubic ft). Source: R package datasets,
    `trees`; Ryan, Joiner & Ryan (1976) The Minitab Student Handbook.
    """
    return load("trees", as_frame)


def load_warpbreaks(as_frame: bool = False) -> Any:
    """Number of warp breaks per loom by wool type and tension.

    Columns breaks, wool (A, B), tension (L, M, H). Source: R package datasets,
    `warpbreaks`; Tippett (1950) Technological Applications of Statistics, p. 106.
    """
    return load("warpbreaks", as_frame)


def _treatment_dummies(
    values: np.ndarray, column: str, order: tuple[str, ...]
) -> tuple[np.ndarray, list[str]]:
    unknown = sorted(set(values.tolist()) - set(order))
    if unknown:
        raise ValueError(f"column {column!r} has unexpected levels {unknown}")
    # The first level is the baseline, absorbed by the intercept (R's contr.treatment).
    columns = [(values == level).astype(np.float64) for level in order[1:]]
    return np.stack(columns, axis=1), [f"{column}{level}" for level in order[1:]]


def insurance_design() -> tuple[np.ndarray, np.ndarray, np.ndarray, list[str]]:
    """Design for the Poisson claims model Claims ~ District + Group + Age.

    The exposure enters as offset log(Holders), so the coefficients are log claim
    rates. Every factor uses treatment coding with R's level order, first level as
    the baseline. In R, Group and Age are *ordered* factors and `glm()` would use
    polynomial contrasts for them; we deliberately use treatment coding, which gives
    the same fit and easier-to-read coefficients (log rate ratios against the
    baseline). Data: R package MASS, `Insurance` (Baxter, Coutts & Ross 1980).

    Matches R: `model.matrix(~ District + factor(Group, ordered = FALSE) +
    factor(Age, ordered = FALSE), Insurance)`.

    Returns:
        X: design matrix, (64, 10): "(Intercept)", District2-4, Group1-1.5l,
            Group1.5-2l, Group>2l, Age25-29, Age30-35, Age>35.
        y: claim counts, (64,).
        offset: log(Holders), (64,).
        names: the 10 column names, as R's `model.matrix` gives them.
    """
    data = load("insurance")
    blocks = [np.ones((data["Claims"].shape[0], 1))]
    names = ["(Intercept)"]
    for column in ("District", "Group", "Age"):
        block, block_names = _treatment_dummies(
            data[column], column, LEVELS["insurance"][column]
        )
        blocks.append(block)
        names.extend(block_names)
    X = np.concatenate(blocks, axis=1)
    return X, data["Claims"].copy(), np.log(data["Holders"]), names
