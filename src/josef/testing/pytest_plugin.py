"""The ``josef`` pytest plugin: a ``mock_cluster`` fixture.

Registered through the ``pytest11`` entry point, so installing josef is enough.  Each test gets a fresh
:class:`~josef.testing.MockCluster` (3 brokers, topics auto-created), stopped when the test ends.  Ask for
another shape with the ``mock_cluster`` marker, whose keyword arguments go to ``MockCluster``::

    @pytest.mark.mock_cluster(brokers=1, topics={"orders": 6}, min_insync_replicas=1)
    def test_orders(mock_cluster):
        ...

A test fails if the mock recorded internal errors (a handler that crashed instead of answering), or
requests for APIs it does not advertise (a client that ignored ApiVersions; the mock closed the connection).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from josef.testing.cluster import MockCluster

__all__ = ["mock_cluster"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "mock_cluster(**kwargs): arguments for the josef mock_cluster fixture's MockCluster"
    )


@pytest.fixture
def mock_cluster(request: pytest.FixtureRequest) -> Iterator[MockCluster]:
    """A fresh :class:`~josef.testing.MockCluster` for one test."""
    marker = request.node.get_closest_marker("mock_cluster")
    kwargs = dict(marker.kwargs) if marker is not None else {}
    cluster = MockCluster(**kwargs)
    unsupported = []
    try:
        yield cluster
        unsupported = cluster.unsupported_requests
    finally:
        cluster.stop()
    errors = cluster.internal_errors
    if errors:
        pytest.fail("the mock cluster hit internal errors:\n" + "\n".join(errors), pytrace=False)
    if unsupported:
        names = ", ".join(sorted({f"api {r.api_key} v{r.version} from {r.client_id!r}" for r in unsupported}))
        pytest.fail(f"clients sent requests the mock cluster does not support (it closed their connections): "
                    f"{names}", pytrace=False)
