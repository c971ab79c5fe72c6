"""KeyRing shows each key as its client holds it now: a key changed in the settings shows at once."""

from __future__ import annotations

from dataclasses import dataclass

from gateway.config import mask_secret
from gateway.providers.keys import KeyRing
from tests.support import FakeClock


@dataclass
class Client:
    key: str

    def set_key(self, key: str) -> None:
        self.key = key


def test_the_status_masks_the_key_each_client_holds_now() -> None:
    main, extra = Client("main-key-0123456789"), Client("extra-key-9876543210")
    ring = KeyRing("rd", [main, extra], FakeClock())
    assert [s["key"] for s in ring.status()] == [mask_secret(main.key), mask_secret(extra.key)]
    main.set_key("changed-key-abcdefghij")   # as health.rekey does after POST /api/config
    assert ring.status()[0]["key"] == mask_secret("changed-key-abcdefghij")
    assert ring.status()[0]["key"] != mask_secret("main-key-0123456789")
