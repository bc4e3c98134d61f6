"""Resources shared per event loop: leases, capacity, closing with the last lease, freshness."""

from __future__ import annotations

import asyncio

from airflow_joblogs.loop_shared import LoopShared


class Resource:
    made = 0

    def __init__(self) -> None:
        Resource.made += 1
        self.closed = False

    async def close(self) -> None:
        self.closed = True


def make() -> tuple[Resource, object]:
    resource = Resource()
    return resource, resource.close


def test_leases_share_one_resource_until_the_last_is_released():
    shared: LoopShared[Resource] = LoopShared()

    async def run() -> None:
        first, second = shared.lease("k", make), shared.lease("k", make)
        other = shared.lease("other", make)
        assert first.resource is second.resource and other.resource is not first.resource
        await shared.release(first)
        await shared.release(first)  # again: a no-op, not a second release
        assert not second.resource.closed and shared.resources("k") == 1
        await shared.release(second)
        assert second.resource.closed and shared.resources("k") == 0
        third = shared.lease("k", make)
        assert third.resource is not first.resource and not third.resource.closed
        await shared.release(third)
        await shared.release(other)

    asyncio.run(run())


def test_capacity_spreads_users_over_several_resources():
    shared: LoopShared[Resource] = LoopShared(capacity=3)

    async def run() -> None:
        leases = [shared.lease("k", make) for _ in range(7)]
        resources = {id(lease.resource) for lease in leases}
        assert len(resources) == 3 and shared.resources("k") == 3
        for lease in leases[:3]:  # the first resource's users leave: it closes, the others stay
            await shared.release(lease)
        assert leases[0].resource.closed and not leases[3].resource.closed
        assert shared.lease("k", make).resource is leases[6].resource, "a resource with room is reused"

    asyncio.run(run())


def test_each_event_loop_has_its_own_resources():
    shared: LoopShared[Resource] = LoopShared()

    async def one() -> Resource:
        return shared.lease("k", make).resource

    assert asyncio.run(one()) is not asyncio.run(one())


def test_old_resources_are_not_handed_out_again():
    shared: LoopShared[Resource] = LoopShared(max_age=0.0)

    async def run() -> None:
        first = shared.lease("k", make)
        second = shared.lease("k", make)
        assert first.resource is not second.resource
        await shared.release(first)
        assert first.resource.closed and not second.resource.closed

    asyncio.run(run())


def test_a_resource_made_by_a_coroutine_is_made_once_however_many_ask_together():
    shared: LoopShared[Resource] = LoopShared()
    before = Resource.made

    async def amake() -> tuple[Resource, object]:
        await asyncio.sleep(0.01)  # others ask meanwhile
        return make()

    async def run() -> set[int]:
        leases = await asyncio.gather(*(shared.alease("k", amake) for _ in range(20)))
        return {id(lease.resource) for lease in leases}

    assert len(asyncio.run(run())) == 1 and Resource.made == before + 1
