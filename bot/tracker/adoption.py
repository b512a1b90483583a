"""Adoption: a number the provider lists that one of this bot's open purchase intents bought
(its answer was lost) is stored and shown in that intent's "checking" message. A listed
number that matches no intent (bought elsewhere with the same key) is never touched.
"""

from __future__ import annotations

import logging

from bot.listed import TakeIn, provider_time, store_listed
from bot.metrics import Metrics
from bot.provider.models import ActiveActivation
from bot.tracker.config import TrackerConfig
from bot.tracker.outbox import Outbox
from bot.tracker.timing import ActivationTiming
from storage.activations import ActivationRepo
from storage.models import KeyProfile, PendingPurchase

log = logging.getLogger(__name__)


class Adopter:
    def __init__(
        self,
        repo: ActivationRepo,
        outbox: Outbox,
        timing: ActivationTiming,
        config: TrackerConfig,
        metrics: Metrics,
    ) -> None:
        self._repo = repo
        self._outbox = outbox
        self._timing = timing
        self._config = config
        self._metrics = metrics
        # Per key: provider ids the listing showed that match no stored number, with the time
        # first seen (a number listed before an intent was written cannot be its purchase).
        self._unknown_seen: dict[int, dict[str, float]] = {}

    async def adopt_listed(
        self,
        key: KeyProfile,
        listing: list[ActiveActivation],
        pending: list[PendingPurchase],
        now: float,
    ) -> set[int]:
        """Store the listed numbers that open activation intents bought (matched by service,
        country and time) and show each in its intent's "checking" message. Returns the ids of
        the intents resolved. Listed numbers that match no intent are never touched."""
        waiting = sorted((p for p in pending if p.kind == "activation"), key=lambda p: p.created_at)
        resolved: set[int] = set()
        unknown: list[ActiveActivation] = []
        earlier = self._unknown_seen.get(key.id, {})
        seen: dict[str, float] = {}
        # The live numbers the schedule holds are stored: no look-up for those.
        live = {a.provider_id for a in self._timing.live_of_key(key.id)}
        for item in listing:
            if item.activation_id in live:
                continue
            if await self._repo.get_by_provider_id(key.id, item.activation_id) is None:
                unknown.append(item)
                seen[item.activation_id] = earlier.get(item.activation_id, now)
        self._unknown_seen[key.id] = seen  # only what is still listed: bounded by the listing
        if not waiting or not unknown:
            return resolved
        offset = await self._provider_offset(key, listing)
        for item in sorted(unknown, key=lambda i: provider_time(i.activation_time) or 0.0):
            match = self._match_intent(waiting, item, seen, offset)
            if match is None:
                continue  # not bought by this bot: left alone
            waiting.remove(match)
            resolved.add(match.id)
            await self._adopt(key, item, match, offset, now)
        return resolved

    def _match_intent(
        self,
        waiting: list[PendingPurchase],
        item: ActiveActivation,
        seen: dict[str, float],
        offset: float | None,
    ) -> PendingPurchase | None:
        """The oldest open intent this listed number can be the purchase of, or None."""
        first_seen = seen.get(item.activation_id, float("inf"))
        naive = provider_time(item.activation_time)
        for intent in waiting:
            if item.service is not None and item.service != intent.service:
                continue
            if item.country is not None and intent.country not in ("", "any", item.country):
                continue
            if first_seen < intent.created_at - self._config.clock_slack:
                continue  # listed well before the intent existed: bought elsewhere
            if naive is not None:
                # Provider timestamps carry no zone (Moscow time for the sms-activate family,
                # UTC for others and the sandbox). Learned zone: exact. Unknown zone: the
                # latest plausible reading (UTC) — loose, but it never rejects our own number.
                bought_at = naive - (offset or 0.0)
                if bought_at < intent.created_at - self._config.clock_slack:
                    continue
            return intent
        return None

    async def _adopt(
        self,
        key: KeyProfile,
        item: ActiveActivation,
        intent: PendingPurchase,
        offset: float | None,
        now: float,
    ) -> None:
        # The deadline counts from the purchase, not from adoption: the provider's time when
        # its zone is known and it is plausible, else the intent's time (the purchase came
        # after it, so the auto-cancel can only come early, never after the provider's expiry).
        created = intent.created_at
        naive = provider_time(item.activation_time)
        if offset is not None and naive is not None:
            bought_at = naive - offset
            if intent.created_at - self._config.clock_slack <= bought_at <= now:
                created = max(intent.created_at, bought_at)
        chat = intent.chat_id if intent.chat_id is not None else intent.user_id
        how = TakeIn(
            user_id=intent.user_id,
            chat_id=chat,
            created_at=created,
            now=now,
            lifetime=self._config.adopt_lifetime,
            cancel_lock=self._config.adopt_cancel_lock,
            service=intent.service,
            country=intent.country,
            cost=intent.expected_cost,
            intent_id=intent.id,
        )
        activation = await store_listed(self._repo, key, item, how)
        if not activation.adopted:
            return  # the purchase itself stored it meanwhile: nothing to adopt
        if intent.message_id is not None and activation.message_id is None:
            await self._repo.set_card(activation.id, chat, intent.message_id)
            activation.message_id = intent.message_id
        self._metrics.adopted.inc()
        log.info("tracker: adopted activation %s of key %s", activation.id, key.id)
        await self._outbox.tell(
            activation.user_id,
            activation.key_id,
            lambda to: self._outbox.notifier.activation_adopted(activation, to),
        )
        self._timing.poll_fast_from(activation.id, now)

    async def _provider_offset(
        self, key: KeyProfile, listing: list[ActiveActivation]
    ) -> float | None:
        """The provider's zone (seconds ahead of UTC), learned from numbers this bot stored
        (their local receipt time against the listed activationTime), rounded to a quarter
        hour; None when the listing shows none of them."""
        learned: list[float] = []
        for item in listing:
            naive = provider_time(item.activation_time)
            if naive is None:
                continue
            known = await self._repo.get_by_provider_id(key.id, item.activation_id)
            if known is not None and not known.adopted:
                learned.append(round((naive - known.created_at) / 900.0) * 900.0)
        if not learned:
            return None
        learned.sort()
        return learned[len(learned) // 2]
