"""An exactly-once copier for the transaction tests: consume (confluent-kafka, read_committed),
produce (josef, transactional), commit the consumed offsets with the transaction.

    python -m tests.txn_copier BOOTSTRAP INPUT OUTPUT GROUP TRANSACTIONAL_ID TOTAL

Prints ``progress N`` (records of input committed so far) after every transaction and exits 0
once the group's committed offsets cover ``TOTAL`` input records. The test kills it (and
brokers) at will: a restarted copier fences its predecessor, whose open transaction the
coordinator aborts, and resumes from the committed offsets.
"""

from __future__ import annotations

import functools
import logging
import sys
import time

from confluent_kafka import Consumer, KafkaException
from confluent_kafka import TopicPartition as CTopicPartition

from josef import Producer, TransactionAbortRequiredError
from josef.errors import KafkaTimeoutError

BATCH = 500


def main(argv: list[str]) -> int:
    bootstrap, source, sink, group, txn_id, total_text = argv
    total = int(total_text)
    logging.basicConfig(level=logging.WARNING, format="copier %(asctime)s %(name)s %(levelname)s %(message)s")
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "session.timeout.ms": 6000,
        "heartbeat.interval.ms": 1000,
    })
    producer = Producer({
        "bootstrap.servers": bootstrap,
        "transactional.id": txn_id,
        "transaction.timeout.ms": 30000,
        "linger.ms": 5,
        "max.block.ms": 20000,
    })
    _retry(producer.init_transactions)
    consumer.subscribe([source])
    done = 0
    while True:
        messages = [m for m in consumer.consume(BATCH, 1.0) if m.error() is None]
        assignment = consumer.assignment()
        if not messages:
            if assignment:
                committed = _committed(consumer, assignment)
                done = sum(max(tp.offset, 0) for tp in committed)
                print(f"progress {done}", flush=True)
                if done >= total:
                    producer.close(10)
                    consumer.close()
                    return 0
            continue
        try:
            producer.begin_transaction()
            for message in messages:
                producer.send(sink, message.value(), key=message.key())
            positions = consumer.position(assignment)
            offsets = [CTopicPartition(tp.topic, tp.partition, tp.offset) for tp in positions if tp.offset >= 0]
            metadata = consumer.consumer_group_metadata()
            _retry(functools.partial(producer.send_offsets_to_transaction, offsets, metadata))
            _retry(producer.commit_transaction)
            done = sum(tp.offset for tp in offsets)
            print(f"progress {done}", flush=True)
        except TransactionAbortRequiredError as exc:
            print(f"aborting: {exc}", flush=True)
            _retry(producer.abort_transaction)
            _rewind(consumer, assignment)


def _retry(call: object) -> None:
    """A timed-out transactional call is resumed by calling it again."""
    for _ in range(30):
        try:
            call()  # type: ignore[operator]
            return
        except KafkaTimeoutError as exc:
            print(f"retrying after a timeout: {exc}", flush=True)
    raise SystemExit("gave up")


def _committed(consumer: Consumer, assignment: list[CTopicPartition]) -> list[CTopicPartition]:
    while True:
        try:
            result: list[CTopicPartition] = consumer.committed(assignment, 10)
            return result
        except KafkaException as exc:
            print(f"committed() failed: {exc}", flush=True)
            time.sleep(0.5)


def _rewind(consumer: Consumer, assignment: list[CTopicPartition]) -> None:
    for tp in _committed(consumer, assignment):
        consumer.seek(CTopicPartition(tp.topic, tp.partition, tp.offset if tp.offset >= 0 else 0))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
