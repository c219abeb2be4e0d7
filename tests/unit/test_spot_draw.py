"""The spot-check draw (双随机) as a pure function: reproducible, handlers excluded, sizes explained."""
from __future__ import annotations

import pytest

from delegation.errors import Conflict, Invalid
from supervision.spotchecks import Drawn, draw, population_digest, sample_size

POPULATION = [f"360730-2026-{i:06d}" for i in range(1, 21)]
POOL = ["reg-360730", "reg-360731", "reg-360732", "reg-city"]


def test_same_seed_and_inputs_give_the_same_sample_and_inspectors():
    first = draw("seed-1", POPULATION, 5, POOL, {POPULATION[0]: ["reg-360730"]})
    again = draw("seed-1", POPULATION, 5, POOL, {POPULATION[0]: ["reg-360730"]})
    assert first == again
    # the order in which population and pool are handed over does not matter: both are sorted first
    shuffled = draw("seed-1", list(reversed(POPULATION)), 5, list(reversed(POOL)), {POPULATION[0]: ["reg-360730"]})
    assert shuffled == first
    assert len({d.case_no for d in first}) == 5
    assert all(len(set(d.inspectors)) == 2 and set(d.inspectors) <= set(POOL) for d in first)


def test_the_draw_is_pinned():
    """A stored check must draw the same way forever: this pins the algorithm (random.Random, str seed)."""
    assert draw("tongquan-golden-seed", POPULATION, 4, POOL, {"360730-2026-000005": ["reg-360731"]}) == [
        Drawn("360730-2026-000003", ("reg-360732", "reg-city")),
        Drawn("360730-2026-000020", ("reg-360730", "reg-360732")),
        Drawn("360730-2026-000006", ("reg-city", "reg-360732")),
        Drawn("360730-2026-000010", ("reg-360731", "reg-city")),
    ]


def test_other_seeds_draw_other_samples():
    samples = {tuple(d.case_no for d in draw(f"seed-{i}", POPULATION, 3, POOL)) for i in range(30)}
    assert len(samples) > 20


def test_handlers_are_never_drawn_as_inspectors():
    exclusions = {c: ["reg-360730", "reg-360731"] if i % 2 else ["reg-city"] for i, c in enumerate(POPULATION)}
    for i in range(200):
        for d in draw(f"s{i}", POPULATION, 10, POOL, exclusions):
            assert not set(d.inspectors) & set(exclusions[d.case_no]), (i, d)
            if len(exclusions[d.case_no]) == 2:
                assert set(d.inspectors) == {"reg-360732", "reg-city"}


def test_too_few_inspectors_left_names_the_case():
    exclusions = {c: ["reg-360730", "reg-360731", "reg-360732"] for c in POPULATION}
    with pytest.raises(Conflict) as info:
        draw("x", POPULATION, 1, POOL, exclusions)
    assert info.value.code == "inspectors_insufficient" and info.value.field == "inspector_pool"
    assert info.value.extra["case_no"] in info.value.zh and "不足" in info.value.zh


@pytest.mark.parametrize("population, kwargs, size", [
    (30, {"rate": 0.1}, 3),  # exactly 3, not 3.0000000000000004 rounded up
    (10, {"rate": 0.25}, 3),  # 2.5 rounded up
    (7, {"rate": 1}, 7),
    (1, {"rate": 0.01}, 1),
    (7, {"count": 7}, 7),
    (7, {"count": 1}, 1),
])
def test_sample_size(population, kwargs, size):
    assert sample_size(population, **kwargs) == size


@pytest.mark.parametrize("population, kwargs, error, code, field", [
    (10, {"count": 0}, Invalid, "sample_empty", "count"),
    (10, {"count": -2}, Invalid, "sample_empty", "count"),
    (10, {"count": 11}, Conflict, "sample_exceeds_population", "count"),
    (0, {"count": 1}, Conflict, "population_empty", "count"),
    (10, {"rate": 0}, Invalid, "rate_invalid", "rate"),
    (10, {"rate": 1.5}, Invalid, "rate_invalid", "rate"),
    (10, {"rate": -0.1}, Invalid, "rate_invalid", "rate"),
    (0, {"rate": 0.5}, Conflict, "population_empty", "rate"),
    (10, {}, Invalid, "sample_missing", "count"),
    (10, {"rate": 0.5, "count": 2}, Invalid, "sample_ambiguous", "rate"),
])
def test_bad_sample_sizes_are_explained(population, kwargs, error, code, field):
    with pytest.raises(error) as info:
        sample_size(population, **kwargs)
    assert info.value.code == code and info.value.field == field
    assert any("\u4e00" <= ch <= "\u9fff" for ch in info.value.zh)  # a Chinese message


def test_sample_larger_than_population_refused_by_the_draw_itself():
    with pytest.raises(Invalid):
        draw("x", POPULATION[:3], 4, POOL)
    with pytest.raises(Invalid):
        draw("x", POPULATION, 0, POOL)


def test_population_digest_ignores_order():
    assert population_digest(POPULATION) == population_digest(reversed(POPULATION))
    assert population_digest(POPULATION) != population_digest(POPULATION[1:])
