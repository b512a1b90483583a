"""getRentList (item 23): off by default, as on the Grizzly seed page (BAD_ACTION); switched on
through the control API it lists the key's active rentals in sms-activate's shape."""

from __future__ import annotations

from sandbox.state import Clock, SandboxState
from tests.sandbox.conftest import Api


async def _rent(api: Api, key: str | None = None) -> str:
    data = await api.json("getRentNumber", key=key, service="tg", country="0", rent_time=4)
    assert data["status"] == "success", data
    return str(data["phone"]["id"])


async def test_rent_list_is_bad_action_by_default(api: Api) -> None:
    await _rent(api)
    assert await api.text("getRentList") == "BAD_ACTION"


async def test_rent_list_toggled_on_lists_the_keys_active_rentals(
    api: Api, state: SandboxState, fake_clock: Clock
) -> None:
    status, config = await api.control("POST", "config", {"rent_list": True})
    assert status == 200 and config["rent_list"] is True
    assert await api.json("getRentList") == {"status": "success", "values": {}}
    first = await _rent(api)
    fake_clock.advance(60)
    second = await _rent(api)
    other_key = state.create_key(balance="100")
    await _rent(api, key=other_key)  # another key's rental is never listed
    listed = await api.json("getRentList")
    assert listed == {
        "status": "success",
        "values": {
            "0": {"id": int(first), "phone": state.rentals[first].phone},
            "1": {"id": int(second), "phone": state.rentals[second].phone},
        },
    }
    assert await api.json("setRentStatus", id=first, status=1) == {"status": "success"}
    assert [item["id"] for item in (await api.json("getRentList"))["values"].values()] == [
        int(second)
    ]
    await api.control("POST", "config", {"rent_list": False})
    assert await api.text("getRentList") == "BAD_ACTION"
