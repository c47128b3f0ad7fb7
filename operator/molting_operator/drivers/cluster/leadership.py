"""Leader election on a coordination.k8s.io/v1 Lease, for `molting operator --leader-election`.

The command waits in ``Elector.lead`` until this replica holds the Lease, runs the operator, and
stops it when a renewal fails for a whole lease term (another replica may then take over). The
Lease is read and written with get/create/update only (the chart's RBAC), and an update carries
the resourceVersion it read, so two replicas never both win.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from molting_operator.drivers.cluster import kube

logger = logging.getLogger(__name__)

LEASE_NAME = "molting-operator"
_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # MicroTime


def _parse(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        return datetime.strptime(text, _FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))


class Elector:
    def __init__(
        self,
        client: kube.Kube,
        namespace: str,
        identity: str,
        *,
        name: str = LEASE_NAME,
        lease_seconds: int = 15,
        retry_seconds: float = 2.0,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.client, self.namespace, self.identity, self.name = client, namespace, identity, name
        self.lease_seconds, self.retry_seconds, self.now = lease_seconds, retry_seconds, now

    @property
    def path(self) -> str:
        return kube.LEASES.path(self.namespace, self.name)

    def try_acquire(self) -> bool:
        """Take or renew the Lease; False when another holder's term has not run out."""
        now = self.now()
        try:
            lease = self.client.get(self.path)
        except kube.ApiError as error:
            if error.status != 404:
                raise
            return self._create(now)
        spec = lease.get("spec") or {}
        holder = spec.get("holderIdentity")
        renewed = _parse(spec.get("renewTime"))
        term = timedelta(seconds=spec.get("leaseDurationSeconds") or self.lease_seconds)
        if holder and holder != self.identity and renewed and now < renewed + term:
            return False
        stamp = now.strftime(_FORMAT)
        new_spec = {**spec, "holderIdentity": self.identity,
                    "leaseDurationSeconds": self.lease_seconds, "renewTime": stamp}
        if holder != self.identity:
            new_spec["acquireTime"] = stamp
            new_spec["leaseTransitions"] = int(spec.get("leaseTransitions") or 0) + 1
        try:
            self.client.replace(self.path, {**lease, "spec": new_spec})
        except kube.ApiError as error:
            if error.status == 409:  # someone else wrote it since we read it
                return False
            raise
        return True

    def _create(self, now: datetime) -> bool:
        stamp = now.strftime(_FORMAT)
        body = {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": self.name, "namespace": self.namespace},
            "spec": {"holderIdentity": self.identity, "leaseDurationSeconds": self.lease_seconds,
                     "acquireTime": stamp, "renewTime": stamp, "leaseTransitions": 0},
        }
        try:
            self.client.create(kube.LEASES, self.namespace, body)
        except kube.ApiError as error:
            if error.status == 409:
                return False
            raise
        return True

    def release(self) -> None:
        """Hand the Lease over at once on a clean exit (as client-go's ReleaseOnCancel)."""
        try:
            lease = self.client.get(self.path)
            if (lease.get("spec") or {}).get("holderIdentity") == self.identity:
                spec = {**lease["spec"], "holderIdentity": None, "leaseDurationSeconds": 1}
                self.client.replace(self.path, {**lease, "spec": spec})
        except kube.ApiError as error:
            logger.warning("Could not release the Lease %s: %s", self.path, error)

    async def _attempt(self) -> bool:
        try:
            return await asyncio.to_thread(self.try_acquire)
        except kube.ApiError as error:
            logger.warning("Lease %s: %s", self.path, error)
            return False

    async def acquire(self) -> None:
        """Wait until this replica leads."""
        logger.info("Waiting to lead through the Lease %s as %s", self.path, self.identity)
        while not await self._attempt():
            await asyncio.sleep(self.retry_seconds)
        logger.info("Leading as %s", self.identity)

    async def keep(self, lost: asyncio.Event) -> None:
        """Renew every third of a term; set ``lost`` when a whole term passes unrenewed."""
        last = self.now()
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            if await self._attempt():
                last = self.now()
            elif self.now() - last >= timedelta(seconds=self.lease_seconds):
                logger.error("Lost the Lease %s; stopping", self.path)
                lost.set()
                return


async def serve_health_while(waiting: asyncio.Future[Any] | asyncio.Task[Any], port: int) -> None:
    """Answer /healthz while a standby replica waits to lead, so its probes pass."""
    app = web.Application()
    app.router.add_get("/healthz", lambda _: web.json_response({"standby": True}))
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "0.0.0.0", port).start()
    try:
        await waiting
    finally:
        await runner.cleanup()
