"""josef.errors: code table, flags, family bases, messages, pickling, exports."""

from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

import josef.errors as errors
from josef.errors import (
    AuthorizationError,
    BrokerError,
    ConcurrentTransactionsError,
    CoordinatorError,
    CorruptMessageError,
    DuplicateSequenceNumberError,
    InvalidMetadataError,
    InvalidProducerEpochError,
    KafkaError,
    MessageTooLargeError,
    NotEnoughReplicasError,
    NotLeaderOrFollowerError,
    OutOfOrderSequenceNumberError,
    ProducerFencedError,
    ProtocolError,
    RecordTooLargeError,
    TransactionAbortableError,
    TransactionError,
    UnknownBrokerError,
    UnknownProducerIdError,
    UnknownTopicOrPartitionError,
    UnsupportedVersionError,
    error_for_code,
)

ROOT = Path(__file__).resolve().parent.parent
KNOWN_CODES = [c for c in range(-1, 137) if c not in (0, 99)]  # Kafka 4.4

# Java's RetriableException subclasses among the broker codes.
JAVA_RETRIABLE = {2, 3, 5, 6, 7, 9, 13, 14, 15, 16, 19, 20, 41, 51, 56, 70, 71, 72, 74, 75, 78, 80, 83, 84}
JAVA_RETRIABLE |= {88, 89, 100, 103, 106, 122, 123, 133}
# Java's InvalidMetadataException subclasses: the producer refreshes metadata on these.
JAVA_INVALID_METADATA = {3, 5, 6, 9, 13, 56, 72, 74, 80, 83, 84, 100, 103}


@pytest.mark.parametrize("code", KNOWN_CODES)
def test_every_known_code_has_its_own_class(code: int) -> None:
    exc = error_for_code(code, "broker said so")
    assert type(exc) is not UnknownBrokerError
    assert exc.code == code
    assert exc.name.isupper()
    assert exc.description
    assert exc.message == "broker said so"
    assert exc.retriable == (code in JAVA_RETRIABLE)
    assert exc.invalid_metadata == (code in JAVA_INVALID_METADATA)
    assert isinstance(exc, InvalidMetadataError) == (code in JAVA_INVALID_METADATA)


def test_named_classes_map_to_their_codes() -> None:
    expected = {
        3: UnknownTopicOrPartitionError,
        6: NotLeaderOrFollowerError,
        10: MessageTooLargeError,
        19: NotEnoughReplicasError,
        35: UnsupportedVersionError,
        45: OutOfOrderSequenceNumberError,
        46: DuplicateSequenceNumberError,
        47: InvalidProducerEpochError,
        51: ConcurrentTransactionsError,
        59: UnknownProducerIdError,
        90: ProducerFencedError,
        120: TransactionAbortableError,
    }
    for code, cls in expected.items():
        assert type(error_for_code(code)) is cls
        assert cls.code == code


def test_families() -> None:
    assert all(isinstance(error_for_code(c), CoordinatorError) for c in (14, 15, 16))
    assert all(isinstance(error_for_code(c), AuthorizationError) for c in (29, 30, 31, 53))
    assert isinstance(error_for_code(90), TransactionError)
    assert isinstance(error_for_code(51), TransactionError) and error_for_code(51).retriable
    # CORRUPT_MESSAGE is retriable in Java even though franz-go does not retry it.
    assert CorruptMessageError.retriable


def test_message_too_large_is_a_record_too_large() -> None:
    exc = error_for_code(10)
    assert isinstance(exc, RecordTooLargeError) and isinstance(exc, BrokerError)
    with pytest.raises(RecordTooLargeError):
        raise exc
    assert not exc.retriable


def test_unknown_code_keeps_the_code() -> None:
    exc = error_for_code(4242, "what")
    assert isinstance(exc, UnknownBrokerError)
    assert exc.code == 4242 and exc.message == "what"
    assert "4242" in str(exc) and "what" in str(exc)


def test_str_uses_broker_message_or_description() -> None:
    assert str(NotLeaderOrFollowerError("moved to 3")) == "NOT_LEADER_OR_FOLLOWER (6): moved to 3"
    description = NotLeaderOrFollowerError.description
    assert str(NotLeaderOrFollowerError()) == f"NOT_LEADER_OR_FOLLOWER (6): {description}"


def test_unsupported_version_usable_client_side() -> None:
    with pytest.raises(UnsupportedVersionError, match="Produce"):
        raise UnsupportedVersionError("broker offers Produce v0-2, josef needs v3+")


@pytest.mark.parametrize("code", [*KNOWN_CODES, 4242])
def test_pickle_round_trip(code: int) -> None:
    exc = error_for_code(code, "m")
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is type(exc)
    assert (back.code, back.message, str(back)) == (exc.code, exc.message, str(exc))


def test_client_errors() -> None:
    assert issubclass(ProtocolError, KafkaError) and not ProtocolError.retriable
    assert errors.KafkaConnectionError.retriable
    for cls in (errors.BufferExhaustedError, errors.MetadataTimeoutError, errors.DeliveryTimeoutError):
        assert issubclass(cls, errors.KafkaTimeoutError) and cls.retriable
    for plain in (errors.SerializationError, errors.ProducerClosedError, errors.IllegalStateError):
        assert issubclass(plain, KafkaError) and not plain.retriable
        assert pickle.loads(pickle.dumps(plain("x"))).args == ("x",)


def test_all_exports_every_public_class() -> None:
    public = {
        name
        for name, obj in vars(errors).items()
        if not name.startswith("_") and (isinstance(obj, type) and issubclass(obj, BaseException))
    }
    assert public | {"error_for_code", "ErrorCode"} == set(errors.__all__)
    for name in errors.__all__:
        assert getattr(errors, name).__module__ == "josef.errors"


def test_generated_section_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "gen_errors.py"), "--check"], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr


def test_error_code_enum_names_every_generated_class() -> None:
    """ErrorCode and the per-code classes come from one table: same codes, same wire names."""
    from josef.errors import ErrorCode, error_for_code

    assert ErrorCode.NONE == 0
    assert ErrorCode.INVALID_PRODUCER_EPOCH == 47
    for code in ErrorCode:
        if code is ErrorCode.NONE:
            continue
        error = error_for_code(code)
        assert (error.code, error.name) == (int(code), code.name)
