"""The ISS producer: fetch on a fixed rate, validate, publish to Kafka with delivery reports."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict

from kafka.errors import KafkaError

from isspanel.processes import StopSignals
from isspanel.produce.moments import Moments, newest_on_topic
from isspanel.produce.publisher import Publisher
from isspanel.produce.stats import ProducerStats
from isspanel.record import InvalidRecord, IssRecord
from isspanel.settings import Settings
from isspanel.sources import Source, SourceError, StaleAnswer

log = logging.getLogger(__name__)

# Publishing history fast wants big batches: linger lets the sender fill 1 MiB batches.
ACCELERATED_CONFIG = {"linger_ms": 50, "batch_size": 1 << 20}


class IssProducer:
    """Fixed-rate loop: at most one fetch in flight; a tick that finds one running is skipped."""

    def __init__(
        self,
        settings: Settings,
        source: Source,
        publisher: Publisher | None = None,
        accelerated: bool = False,
        stop_event: threading.Event | None = None,
    ):
        self.settings = settings
        self.source = source
        config = ACCELERATED_CONFIG if accelerated else {}
        self.publisher = publisher or Publisher(settings, **config)
        self.stats = self.publisher.stats  # one account: the publisher counts deliveries
        self.stop_event = stop_event or threading.Event()
        self.moments = Moments(self.stats)
        self._started = False
        if hasattr(source, "on_event"):
            source.on_event = self.publisher.publish_event  # feed frozen / moving
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fetch")
        self._inflight: Future | None = None
        self._inflight_since = 0.0

    def _start(self) -> None:
        """Learn the newest timestamp already published: the topic's tail, the spool's. What
        the spool holds up to the tail's newest is on the topic already: not sent again."""
        if self._started:
            return
        self._started = True
        self.moments.seed(self.publisher.replayed_newest, "in the spool")
        try:
            newest = newest_on_topic(self.settings)
        except (KafkaError, OSError) as exc:
            log.warning(
                "could not read the newest record of %s (%s): only this run's timestamps are"
                " checked for repeats",
                self.settings.topics.location,
                exc,
            )
            return
        self.moments.seed(newest, f"on {self.settings.topics.location}")
        if newest is not None:
            self.publisher.drop_published(newest, self.settings.topics.location)

    def _fetch_and_accept(self) -> None:
        try:
            record = self.source.fetch()
        except StaleAnswer as exc:
            self.stats.stale += 1
            log.debug("stale: %s", exc)
            if exc.stand_in is None:
                return
            record = exc.stand_in  # auto mode, feed frozen: SGP4 stands in
        except SourceError as exc:
            self.stats.fetch_errors += 1
            log.warning("fetch failed: %s", exc)
            return
        except InvalidRecord as exc:
            self.stats.rejected += 1
            log.warning("rejected answer from %s: %s", self.source.name, exc)
            return
        except EOFError as exc:
            log.info("%s", exc)
            self.stop_event.set()
            return
        if not self.moments.admit(record):
            return
        self.publisher.accept(record)
        log.info(
            "accepted %s lat=%.4f lon=%.4f (%s)",
            record.event_time,
            record.latitude,
            record.longitude,
            record.source,
        )

    def tick(self) -> None:
        self.stats.ticks += 1
        if self._inflight is not None and not self._inflight.done():
            self.stats.skipped += 1
            log.warning(
                "tick skipped: the fetch started %.1f s ago is still running",
                time.monotonic() - self._inflight_since,
            )
            return
        self._inflight_since = time.monotonic()
        self._inflight = self._executor.submit(self._fetch_and_accept)

    def run(
        self, interval: float | None = None, count: int | None = None, max_ticks: int | None = None
    ) -> ProducerStats:
        """Tick every ``interval`` s until stopped, ``count`` records or ``max_ticks`` ticks."""
        interval = self.settings.producer.interval_s if interval is None else interval
        log.info(
            "producer: source %s, every %g s, to %s/%s",
            self.source.name,
            interval,
            self.settings.kafka.bootstrap_servers,
            self.settings.topics.location,
        )
        if hasattr(self.source, "fit_interval"):
            self.source.fit_interval(interval)  # a fetch must end before the next tick
        self._start()
        self.publisher.drain()  # connect now, so the first tick is not slowed by it
        next_tick = time.monotonic()
        while not self.stop_event.is_set():
            if count is not None and self.stats.accepted >= count:
                break
            if max_ticks is not None and self.stats.ticks >= max_ticks:
                break
            next_tick = self._skip_missed(next_tick, interval)
            self.tick()
            if max_ticks is not None and self.stats.ticks >= max_ticks:
                break  # finish() waits for this tick's fetch: no idle interval after it
            # A fixed rate: the next tick is due one interval after the last one was due.
            next_tick += interval
            while not self.stop_event.is_set():
                self.publisher.drain()
                remaining = next_tick - time.monotonic()
                if remaining <= 0:
                    break
                if count is not None and self.stats.accepted >= count:
                    break
                self.stop_event.wait(min(remaining, 0.5))
        return self.finish()

    def _skip_missed(self, next_tick: float, interval: float) -> float:
        """After the loop was held up (a send may block up to max_block_ms), count the ticks it
        missed as skipped, instead of firing them all at once."""
        behind = time.monotonic() - next_tick
        if behind < interval:
            return next_tick
        missed = int(behind // interval)
        self.stats.ticks += missed
        self.stats.skipped += missed
        log.warning("%d tick(s) skipped: the loop was held up %.1f s", missed, behind)
        return next_tick + missed * interval

    def publish_all(
        self, records: Iterable[IssRecord], progress_every: int = 10_000, chunk: int = 1_000
    ) -> ProducerStats:
        """Accelerated mode: publish ``records`` as fast as the producer takes them."""
        self._start()
        started = time.monotonic()
        batch: list[IssRecord] = []
        reported = 0
        for record in records:
            if self.stop_event.is_set():
                break
            if not self.moments.admit(record):
                continue
            batch.append(record)
            if len(batch) >= chunk:
                self.publisher.accept_many(batch)
                self.publisher.drain()  # (re)connects if need be: accept_many only sends
                batch = []
            if self.stats.accepted - reported >= progress_every:
                reported = self.stats.accepted
                rate = reported / max(1e-9, time.monotonic() - started)
                log.info("published %d records (%.0f/s)", reported, rate)
        if batch:
            self.publisher.accept_many(batch)
        return self.finish()

    def finish(self) -> ProducerStats:
        if self._inflight is not None:
            try:
                # Deadline plus one read gap: the longest a fetch runs.
                s = self.settings
                self._inflight.result(
                    timeout=s.producer.fetch_deadline_s + s.producer.read_timeout_s
                )
            except TimeoutError:
                log.warning("a fetch is still running at exit; its record is dropped")
        self._executor.shutdown(wait=False, cancel_futures=True)
        # Stopped (signal, end of file) while the broker is away: the spool keeps what is
        # pending, so waiting the full 30 s for it helps nobody (`isspanel up` waits 30 s).
        away = self.stop_event.is_set() and self.publisher.outage.since is not None
        self.publisher.close(timeout_s=2.0 if away else 30.0)
        self.source.close()
        self.moments.report(final=True)
        log.info("producer stopped: %s", asdict(self.stats))
        return self.stats


def stop_signals() -> StopSignals:
    """SIGINT and SIGTERM set the stop event (said in the log) instead of killing us; the
    producer's `finish` then flushes what was accepted."""
    return StopSignals(log, "%s received: flushing and stopping")
