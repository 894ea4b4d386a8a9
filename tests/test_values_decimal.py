"""Decimal is money: stored, computed and aggregated exactly, or refused (issue 12, item 1).

The GPU-marketplace schema keeps balances, prices and amounts in Decimal fields.
"""

from __future__ import annotations

import multiprocessing
import time
import uuid
from collections.abc import Callable, Iterator
from decimal import Decimal, localcontext
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

import strata

SCHEMA = Path(__file__).resolve().parent.parent / "schema" / "gpu_marketplace.prisma"

Open = Callable[[], strata.Database]


@pytest.fixture
def gpu(tmp_path: Path) -> Iterator[strata.Database]:
    db = strata.connect(tmp_path / "gpu.db", schema=SCHEMA)
    db.migrate_.push()
    yield db
    db.close_()


def user(db: strata.Database, address: str, balance: str) -> Any:
    return db.user.create(data={"qubicAddress": address, "balance": Decimal(balance)})


def provider(db: strata.Database, owner: Any, worker: str, earnings: str = "0") -> Any:
    return db.provider.create(
        data={
            "workerId": worker,
            "user": {"connect": {"id": owner.id}},
            "type": "BROWSER",
            "gpuModel": "4090",
            "gpuVramGb": 24,
            "pricePerHour": Decimal("0.1"),
            "totalEarnings": Decimal(earnings),
        }
    )


def stored(db: strata.Database, table: str, column: str) -> list[Any]:
    """The raw values SQLite holds, in rowid order."""
    return [
        r[0]
        for r in db.query_raw_(f'SELECT "{column}" FROM "{table}" ORDER BY rowid', as_tuples=True)
    ]


# -- arithmetic ------------------------------------------------------------------------------


def test_increment_is_exact(gpu: strata.Database) -> None:
    alice = user(gpu, "A", "0.1")
    updated = gpu.user.update(
        where={"id": alice.id}, data={"balance": {"increment": Decimal("0.2")}}
    )
    assert updated.balance == Decimal("0.3")
    assert gpu.user.find_unique_or_raise(where={"id": alice.id}).balance == Decimal("0.3")
    assert stored(gpu, "User", "balance") == [0.3]  # the double nearest 0.3, not 0.1 + 0.2
    assert gpu.user.count({"balance": Decimal("0.3")}) == 1


@pytest.mark.parametrize(
    ("start", "operation", "operand", "expected"),
    [
        ("0.1", "increment", "0.2", "0.3"),
        ("0.3", "decrement", "0.1", "0.2"),
        ("0.1", "multiply", "3", "0.3"),
        ("1.1", "multiply", "1.1", "1.21"),
        ("1", "divide", "4", "0.25"),
        ("0.3", "divide", "3", "0.1"),
        ("9999999999999.99", "increment", "0.01", "10000000000000"),
        ("9223372036854775806", "increment", "1", "9223372036854775807"),  # 64-bit, exact
        ("-0.07", "increment", "0.07", "0"),
    ],
)
def test_every_operation_is_exact(
    gpu: strata.Database, start: str, operation: str, operand: str, expected: str
) -> None:
    alice = user(gpu, "A", start)
    updated = gpu.user.update(
        where={"id": alice.id}, data={"balance": {operation: Decimal(operand)}}
    )
    assert updated.balance == Decimal(expected)


def test_operands_are_checked_like_values(gpu: strata.Database) -> None:
    alice = user(gpu, "A", "1")
    for given_operand in (0.1, "0.1", Decimal("0.1")):  # a float by its shortest text
        gpu.user.update(where={"id": alice.id}, data={"balance": {"increment": given_operand}})
    assert gpu.user.find_unique_or_raise(where={"id": alice.id}).balance == Decimal("1.3")
    with pytest.raises(strata.ValidationError, match=r"User\.balance"):
        gpu.user.update(
            where={"id": alice.id}, data={"balance": {"increment": Decimal("0.1234567890123456")}}
        )
    with pytest.raises(strata.ValidationError, match="unknown update operation 'push'"):
        gpu.user.update(where={"id": alice.id}, data={"balance": {"push": 1}})


@pytest.mark.parametrize(
    ("start", "operation", "operand"),
    [
        ("123456789012.345", "increment", "0.0001"),  # 16 significant digits
        ("1", "divide", "3"),  # 0.333... never ends
        ("1", "divide", "0"),
        ("12345678.9", "multiply", "12345678.9"),
        ("9223372036854775807", "increment", "0.5"),
    ],
)
def test_a_result_that_cannot_be_stored_is_refused_and_changes_nothing(
    gpu: strata.Database, start: str, operation: str, operand: str
) -> None:
    alice = user(gpu, "A", start)
    before = stored(gpu, "User", "balance")
    with pytest.raises(strata.ValidationError, match="cannot be stored exactly") as caught:
        gpu.user.update(
            where={"id": alice.id},
            data={"balance": {operation: Decimal(operand)}, "email": "changed@example.com"},
        )
    assert (caught.value.model, caught.value.field) == ("User", "balance")
    assert stored(gpu, "User", "balance") == before
    assert gpu.user.find_unique_or_raise(where={"id": alice.id}).email is None
    assert not gpu.in_transaction_


def test_null_stays_null(gpu: strata.Database) -> None:
    owner = user(gpu, "A", "0")
    job = gpu.job.create(
        data={"userId": owner.id, "estimatedCost": Decimal("1.5"), "inputData": {}}
    )
    updated = gpu.job.update(where={"id": job.id}, data={"actualCost": {"increment": 1}})
    assert updated.actualCost is None


def test_update_many_is_exact_per_row_and_all_or_nothing(gpu: strata.Database) -> None:
    for index, balance in enumerate(["0.1", "0.2", "0.7", "5"]):
        user(gpu, f"U{index}", balance)
    count = gpu.user.update_many(
        where={"balance": {"lt": 1}}, data={"balance": {"increment": Decimal("0.2")}}
    )
    assert count == {"count": 3}
    balances = [u.balance for u in gpu.user.find_many(order_by={"qubicAddress": "asc"})]
    assert balances == [Decimal("0.3"), Decimal("0.4"), Decimal("0.9"), Decimal("5")]
    before = stored(gpu, "User", "balance")
    # One row's result (5 / 3) cannot be stored: no row changes.
    with pytest.raises(strata.ValidationError, match="cannot be stored exactly"):
        gpu.user.update_many(data={"balance": {"divide": 3}, "role": "BOTH"})
    assert stored(gpu, "User", "balance") == before
    assert gpu.user.count({"role": "BOTH"}) == 0


def test_upsert_is_exact(gpu: strata.Database) -> None:
    user(gpu, "A", "0.1")
    for amount, expected in (("0.2", "0.3"), ("0.1", "0.4")):
        upserted = gpu.user.upsert(
            where={"qubicAddress": "A"},
            create={"qubicAddress": "A"},
            update={"balance": {"increment": Decimal(amount)}},
        )
        assert upserted.balance == Decimal(expected)


def test_nested_updates_are_exact(gpu: strata.Database) -> None:
    owner = user(gpu, "A", "0.1")
    provider(gpu, owner, "w1", "0.1")
    provider(gpu, owner, "w2", "0.7")
    gpu.user.update(
        where={"id": owner.id},
        data={
            "balance": {"increment": Decimal("0.2")},
            "providers": {
                "update": {
                    "where": {"workerId": "w1"},
                    "data": {"totalEarnings": {"increment": 0.2}},
                },
                "update_many": {"where": {}, "data": {"pricePerHour": {"multiply": 3}}},
            },
        },
    )
    gpu.user.update(
        where={"id": owner.id},
        data={
            "providers": {
                "upsert": {
                    "where": {"workerId": "w2"},
                    "create": {
                        "workerId": "w2",
                        "type": "BROWSER",
                        "gpuModel": "x",
                        "gpuVramGb": 1,
                        "pricePerHour": 1,
                    },
                    "update": {"totalEarnings": {"decrement": Decimal("0.4")}},
                }
            }
        },
    )
    assert gpu.user.find_unique_or_raise(where={"id": owner.id}).balance == Decimal("0.3")
    providers = gpu.provider.find_many(order_by={"workerId": "asc"})
    assert [p.totalEarnings for p in providers] == [Decimal("0.3"), Decimal("0.3")]
    assert [p.pricePerHour for p in providers] == [Decimal("0.3"), Decimal("0.3")]
    # Through the relation that holds the key (Provider.user), too.
    first = providers[0]
    gpu.provider.update(
        where={"id": first.id}, data={"user": {"update": {"balance": {"decrement": 0.1}}}}
    )
    assert gpu.user.find_unique_or_raise(where={"id": owner.id}).balance == Decimal("0.2")


def test_a_refused_nested_update_rolls_back_the_whole_write(gpu: strata.Database) -> None:
    owner = user(gpu, "A", "0.1")
    provider(gpu, owner, "w1", "1")
    with pytest.raises(strata.ValidationError, match="cannot be stored exactly"):
        gpu.user.update(
            where={"id": owner.id},
            data={
                "balance": {"increment": Decimal("0.2")},
                "providers": {
                    "update_many": {"where": {}, "data": {"totalEarnings": {"divide": 3}}}
                },
            },
        )
    assert gpu.user.find_unique_or_raise(where={"id": owner.id}).balance == Decimal("0.1")
    assert stored(gpu, "Provider", "totalEarnings") == [1]


def _pay(path: str, worker: int, times: int) -> None:
    db = strata.connect(path, schema=SCHEMA)
    try:
        for _ in range(times):
            db.user.update(
                where={"qubicAddress": "A"}, data={"balance": {"increment": Decimal("0.01")}}
            )
            db.user.update_many(
                where={"qubicAddress": "A"}, data={"balance": {"decrement": Decimal("0.001")}}
            )
    finally:
        db.close_()


def test_concurrent_increments_from_processes_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "gpu.db")
    db = strata.connect(path, schema=SCHEMA)
    db.migrate_.push()
    user(db, "A", "0.1")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_pay, args=(path, n, 40)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    # 0.1 + 4 x 40 x (0.01 - 0.001), with no double rounding anywhere.
    assert db.user.find_unique_or_raise(where={"qubicAddress": "A"}).balance == Decimal("1.54")
    db.close_()


# -- storage ---------------------------------------------------------------------------------


def test_values_sqlite_would_misread_as_text_round_trip(gpu: strata.Database) -> None:
    # SQLite 3.40 turns the text "4.810902075" into the double one below the nearest one,
    # which reads back as 4.8109020749999996. Binding the nearest double keeps the value.
    for index, text in enumerate(["4.810902075", "79.9785808265", "0.9049373", "0.00000491"]):
        user(gpu, f"U{index}", text)
        found = gpu.user.find_unique_or_raise(where={"qubicAddress": f"U{index}"})
        assert found.balance == Decimal(text)
        assert gpu.user.count({"balance": Decimal(text)}) == 1


def test_a_double_sum_left_by_sql_reads_as_its_15_digits(gpu: strata.Database) -> None:
    alice = user(gpu, "A", "0.1")
    gpu.execute_raw_('UPDATE "User" SET "balance" = "balance" + 0.2')  # as strata used to
    assert stored(gpu, "User", "balance") == [0.30000000000000004]
    assert gpu.user.find_unique_or_raise(where={"id": alice.id}).balance == Decimal("0.3")


def _decimals(digits: int) -> st.SearchStrategy[Decimal]:
    """Decimals of at most ``digits`` significant digits, whose exponents range from tiny
    to large and negative."""
    return st.builds(
        lambda coefficient, exponent: Decimal(coefficient).scaleb(exponent),
        st.integers(-(10**digits) + 1, 10**digits - 1),
        st.one_of(st.integers(-20, 20), st.integers(-300, 290)),
    )


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[strata.Database]:
    """One database for every example of a property test: each example adds rows of its own."""
    db = strata.connect(tmp_path_factory.mktemp("shared") / "gpu.db", schema=SCHEMA)
    db.migrate_.push()
    yield db
    db.close_()


@given(values=st.lists(_decimals(15), min_size=1, max_size=8))
def test_decimals_of_15_digits_round_trip_exactly(
    shared: strata.Database, values: list[Decimal]
) -> None:
    for value in [*values, Decimal("1E-10"), Decimal("-1E+100")]:
        created = user(shared, str(uuid.uuid4()), str(value))
        assert created.balance == value
        found = shared.user.find_unique_or_raise(where={"id": created.id})
        assert found.balance == value
        assert shared.user.count({"id": created.id, "balance": value}) == 1


@given(coefficient=st.integers(10**15, 10**30), exponent=st.integers(-40, 0))
def test_more_than_15_digits_is_refused_unless_a_64_bit_integer(
    shared: strata.Database, coefficient: int, exponent: int
) -> None:
    value = Decimal(coefficient).scaleb(exponent)
    if Decimal(format(float(value), ".15g")) == value:
        return  # trailing zeros: 15 digits after all
    data = {"qubicAddress": str(uuid.uuid4()), "balance": value}
    if value == value.to_integral_value() and abs(value) < 2**63:
        assert shared.user.create(data=data).balance == value
        return
    with pytest.raises(strata.ValidationError, match=r"User\.balance"):
        shared.user.create(data=data)


# -- aggregates ------------------------------------------------------------------------------


def test_sum_and_avg_are_exact(gpu: strata.Database) -> None:
    for index, balance in enumerate(["0.1", "0.2", "0.3", "0.1", "0.2", "0.3"]):
        user(gpu, f"U{index}", balance)
    result = gpu.user.aggregate(
        sum={"balance": True},
        avg={"balance": True},
        min={"balance": True},
        max={"balance": True},
        count=True,
    )
    assert result == {
        "_sum": {"balance": Decimal("1.2")},
        "_avg": {"balance": Decimal("0.2")},
        "_min": {"balance": Decimal("0.1")},
        "_max": {"balance": Decimal("0.3")},
        "_count": 6,
    }
    nothing = gpu.user.aggregate(
        where={"balance": {"gt": 5}}, sum={"balance": True}, avg={"balance": True}
    )
    assert nothing == {"_sum": {"balance": None}, "_avg": {"balance": None}}


def test_avg_has_28_significant_digits(gpu: strata.Database) -> None:
    for index, balance in enumerate(["1", "1", "0"]):
        user(gpu, f"U{index}", balance)
    average = gpu.user.aggregate(avg={"balance": True})["_avg"]["balance"]
    assert average == Decimal("0.6666666666666666666666666667")


def test_group_by_sums_are_exact(gpu: strata.Database) -> None:
    owner = user(gpu, "A", "0")
    other = user(gpu, "B", "0")
    transactions = gpu.model_("Transaction")
    for who, amounts in ((owner, ["0.1", "0.2", "0.3"]), (other, ["0.7", "0.1"])):
        for amount in amounts:
            transactions.create(
                data={"userId": who.id, "type": "PAYMENT", "amount": Decimal(amount)}
            )
    groups = transactions.group_by(
        ["userId"],
        sum={"amount": True},
        avg={"amount": True},
        count={"amount": True},
        order_by={"_count": {"amount": "desc"}},
    )
    assert groups == [
        {
            "userId": owner.id,
            "_sum": {"amount": Decimal("0.6")},
            "_avg": {"amount": Decimal("0.2")},
            "_count": {"amount": 3},
        },
        {
            "userId": other.id,
            "_sum": {"amount": Decimal("0.8")},
            "_avg": {"amount": Decimal("0.4")},
            "_count": {"amount": 2},
        },
    ]
    for bad in (
        {"having": {"amount": {"_sum": {"gt": 0.5}}}},
        {"order_by": {"_sum": {"amount": "desc"}}},
        {"order_by": {"_avg": {"amount": "asc"}}},
    ):
        with pytest.raises(strata.ValidationError, match="computed exactly"):
            transactions.group_by(["userId"], sum={"amount": True}, **bad)


@given(values=st.lists(st.one_of(st.none(), _decimals(15)), max_size=30))
def test_aggregates_equal_a_python_reference(
    shared: strata.Database, values: list[Decimal | None]
) -> None:
    owner = user(shared, str(uuid.uuid4()), "0")
    for value in values:
        shared.job.create(
            data={"userId": owner.id, "estimatedCost": 0, "actualCost": value, "inputData": {}}
        )
    present = [v for v in values if v is not None]
    mine = {"userId": owner.id}
    result = shared.job.aggregate(mine, sum={"actualCost": True}, avg={"actualCost": True})
    groups = shared.job.group_by(["userId"], where=mine, sum={"actualCost": True})
    if not present:
        assert result == {"_sum": {"actualCost": None}, "_avg": {"actualCost": None}}
        return
    with localcontext(prec=1000):
        exact = sum(present, Decimal(0))
    with localcontext(prec=28):
        average = exact / len(present)
    assert result == {"_sum": {"actualCost": exact}, "_avg": {"actualCost": average}}
    assert groups == [{"userId": owner.id, "_sum": {"actualCost": exact}}]


def test_a_100k_row_sum_is_quick(gpu: strata.Database) -> None:
    owner = user(gpu, "A", "0")
    gpu.job.create_many(
        [
            {"userId": owner.id, "estimatedCost": Decimal(n % 1000) / 100, "inputData": {}}
            for n in range(100_000)
        ]
    )
    started = time.perf_counter()
    result = gpu.job.aggregate(sum={"estimatedCost": True}, avg={"estimatedCost": True})
    elapsed = time.perf_counter() - started
    assert result["_sum"]["estimatedCost"] == Decimal("499500.00")
    assert result["_avg"]["estimatedCost"] == Decimal("4.995")
    assert elapsed < 2.0, f"a 100k-row exact sum took {elapsed:.2f} s"
