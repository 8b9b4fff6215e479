"""Implementation (b): the guide's ``AsyncBatchIngestor`` exactly as the guide writes it.

Copied from ``asyncio-concurrent-batch-ingestion.txt`` sections 1 and 2 (the two class
fragments merged into one class). Only the logging is silenced so the benchmark's output
stays readable; the logic is untouched, flaws included: chunked ``gather``, the semaphore
held while sleeping, 404s retried, ``hash(url)`` jitter, failures dropped.
"""
# ruff: noqa
# mypy: ignore-errors

import asyncio
import aiohttp
import logging
from typing import List, Dict, Any, Optional
from dataclasses import dataclass

logger = logging.getLogger("supply_chain_etl")
logger.disabled = True


@dataclass
class FeedConfig:
    max_concurrency: int = 50
    timeout_seconds: float = 30.0
    batch_size: int = 100
    retry_attempts: int = 3
    backoff_base: float = 1.5


class AsyncBatchIngestor:
    def __init__(self, config: FeedConfig):
        self.config = config
        self.semaphore = asyncio.Semaphore(config.max_concurrency)
        self.session: Optional[aiohttp.ClientSession] = None

    async def __aenter__(self):
        timeout = aiohttp.ClientTimeout(total=self.config.timeout_seconds)
        connector = aiohttp.TCPConnector(
            limit=self.config.max_concurrency,
            limit_per_host=10,
            enable_cleanup_closed=True,
            force_close=False,
        )
        self.session = aiohttp.ClientSession(connector=connector, timeout=timeout)
        return self

    async def __aexit__(self, exc_type, exc_val, exc_tb):
        if self.session:
            await self.session.close()

    async def fetch_feed_batch(self, urls: List[str]) -> List[Dict[str, Any]]:
        chunks = [
            urls[i : i + self.config.batch_size]
            for i in range(0, len(urls), self.config.batch_size)
        ]
        all_successful: List[Dict[str, Any]] = []

        for chunk in chunks:
            tasks = [self._fetch_single(url) for url in chunk]
            results = await asyncio.gather(*tasks, return_exceptions=True)

            for i, result in enumerate(results):
                if isinstance(result, Exception):
                    logger.error(f"Batch ingestion failed for {chunk[i]}: {result}")
                    continue
                if result is not None:
                    all_successful.append(result)
        return all_successful

    async def _fetch_single(self, url: str) -> Optional[Dict[str, Any]]:
        async with self.semaphore:
            for attempt in range(self.config.retry_attempts):
                try:
                    async with self.session.get(url) as response:
                        response.raise_for_status()
                        return await response.json()
                except (aiohttp.ClientError, asyncio.TimeoutError) as e:
                    wait_time = self.config.backoff_base**attempt + (hash(url) % 1000) / 1000
                    logger.warning(
                        f"Attempt {attempt + 1} failed for {url}: {e}. Retrying in {wait_time:.2f}s"
                    )
                    await asyncio.sleep(wait_time)
            logger.critical(f"Exhausted retries for {url}")
            return None
