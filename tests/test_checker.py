"""The checkers' contract: a wrong answer is "wrong", a sick lab is the lab's problem."""
from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException, Producer

from kafkalab.book.checks.common import checker
from kafkalab.errors import LabError, LabTimeout, NotAvailable


@checker
def _check(fail: Exception) -> None:
    """A checker that fails the way it is told."""
    raise fail


def test_a_setting_the_client_refuses_is_the_readers_mistake():
    with pytest.raises(KafkaException) as refused:
        Producer({"acks": "sometimes"})
    with pytest.raises(AssertionError, match="your settings could not run.*acks"):
        _check(refused.value)
    with pytest.raises(AssertionError, match="your settings could not run"):
        _check(ValueError("batch.size must be a number"))


@pytest.mark.parametrize("sick", [LabTimeout("the ISR to shrink did not happen within 30 s"),
                                  LabError("broker 2 does not answer"),
                                  KafkaException(KafkaError(KafkaError._TRANSPORT))])
def test_a_sick_lab_is_never_the_readers_mistake(sick):
    with pytest.raises(LabError, match="the lab could not run this check") as e:
        _check(sick)
    assert not isinstance(e.value, AssertionError)
    assert "kafkalab status" in str(e.value)


def test_a_cluster_the_book_does_not_run_is_a_note():
    with pytest.raises(NotAvailable):
        _check(NotAvailable("killing a broker of an external cluster"))
    with pytest.raises(AssertionError, match="^wrong$"):
        _check(AssertionError("wrong"))
