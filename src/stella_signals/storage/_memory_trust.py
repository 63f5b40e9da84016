"""`TrustStore` and `ServiceKeyStore` in memory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime

from stella_signals.errors import Conflict
from stella_signals.ports import KeyPurpose, ServiceKeyRecord, TenantPolicy, TrustedKey
from stella_signals.storage._memory_base import MemoryDatabase
from stella_signals.storage._writes import AnchorAppend, AnchorEntry
from stella_signals.tenancy import TenantId

__all__ = ["MemoryServiceKeyStore", "MemoryTrustStore"]


class MemoryTrustStore(AnchorAppend, MemoryDatabase):
    """`TrustStore` in memory: trusted keys, policies, time anchors."""

    def __init__(self) -> None:
        super().__init__()
        self._keys: dict[tuple[TenantId, KeyPurpose, str], TrustedKey] = {}
        self._policies: dict[TenantId, TenantPolicy] = {}
        self._anchors: dict[TenantId, list[tuple[int, bytes]]] = {}

    def add_trusted_key(self, key: TrustedKey) -> bool:
        with self._lock:
            index = (key.tenant, key.purpose, key.keyid)
            old = self._keys.get(index)
            if old is not None and old.revoked_at is None:
                return False
            self._keys[index] = replace(key, revoked_at=None)
            return True

    def list_trusted_keys(
        self, tenant: TenantId, purpose: KeyPurpose, *, include_revoked: bool = False
    ) -> list[TrustedKey]:
        with self._lock:
            keys = [
                k
                for (t, p, _), k in self._keys.items()
                if t == tenant and p == purpose and (include_revoked or k.revoked_at is None)
            ]
        return sorted(keys, key=lambda k: k.keyid)

    def revoke_trusted_key(
        self, tenant: TenantId, purpose: KeyPurpose, keyid: str, at: datetime
    ) -> bool:
        with self._lock:
            key = self._keys.get((tenant, purpose, keyid))
            if key is None or key.revoked_at is not None:
                return False
            self._keys[(tenant, purpose, keyid)] = replace(key, revoked_at=at)
            return True

    def get_policy(self, tenant: TenantId) -> TenantPolicy:
        with self._lock:
            return self._policies.get(tenant, TenantPolicy())

    def set_policy(self, tenant: TenantId, policy: TenantPolicy, at: datetime) -> None:
        self.update_policy(tenant, lambda _current: policy, at)

    def update_policy(
        self, tenant: TenantId, change: Callable[[TenantPolicy], TenantPolicy], at: datetime
    ) -> TenantPolicy:
        with self._lock:
            policy = change(self.get_policy(tenant))
            self._policies[tenant] = policy
            return policy

    def _append_anchor(self, entry: AnchorEntry) -> bool:
        with self._lock:
            anchors = self._anchors.setdefault(entry.tenant, [])
            if not entry.follows(anchors[-1][0] if anchors else None):
                return False
            anchors.append((entry.counter, entry.envelope))
            return True

    def latest_time_anchor(self, tenant: TenantId) -> tuple[int, bytes] | None:
        with self._lock:
            anchors = self._anchors.get(tenant)
            return anchors[-1] if anchors else None


@dataclass
class _ServiceKey:
    record: ServiceKeyRecord
    private_pem: bytes | None


class MemoryServiceKeyStore(MemoryDatabase):
    """`ServiceKeyStore` in memory."""

    def __init__(self) -> None:
        super().__init__()
        self._service_keys: dict[str, _ServiceKey] = {}

    def _retire_all(self, at: datetime, *, but: str | None = None) -> None:
        for keyid, key in self._service_keys.items():
            if key.record.retired_at is None and keyid != but:
                key.record = replace(key.record, retired_at=at)

    def current_service_key(
        self, generate: Callable[[], tuple[str, bytes, bytes]], at: datetime
    ) -> bytes:
        with self._lock:
            current = [
                k
                for k in self._service_keys.values()
                if k.private_pem is not None and k.record.retired_at is None
            ]
            if current:
                chosen = min(current, key=lambda k: k.record.created_at)
                assert chosen.private_pem is not None  # noqa: S101 - filtered above
                return chosen.private_pem
            keyid, public_pem, private_pem = generate()
            if keyid in self._service_keys:
                raise Conflict(f"service key {keyid} already exists")
            self._retire_all(at)
            self._service_keys[keyid] = _ServiceKey(
                ServiceKeyRecord(keyid=keyid, public_pem=public_pem, created_at=at), private_pem
            )
            return private_pem

    def register_service_key(self, keyid: str, public_pem: bytes, at: datetime) -> None:
        with self._lock:
            known = self._service_keys.get(keyid)
            if known is not None and known.record.retired_at is None:
                return
            self._retire_all(at, but=keyid)
            if known is None:
                self._service_keys[keyid] = _ServiceKey(
                    ServiceKeyRecord(keyid=keyid, public_pem=public_pem, created_at=at), None
                )
            else:  # a retired key brought back
                known.record = replace(known.record, retired_at=None)

    def list_service_keys(self) -> list[ServiceKeyRecord]:
        with self._lock:
            records = [k.record for k in self._service_keys.values()]
        return sorted(records, key=lambda r: (r.created_at, r.keyid))
