/**
 * Open-loop HTTP load in its own process: requests leave at a fixed arrival rate whatever the
 * server's answers, as independent clients' requests do, each on a keep-alive connection of
 * its own when none is free. autocannon's `overallRate` is not that: each of its connections
 * sends its share of a second's requests back to back and then pauses until the next second,
 * so a slow server slows the arrivals (and a fast one gets bursts at each second). Latency is
 * measured from the moment a request was due, so a client-side delay counts against the server.
 * A request unanswered after `timeoutMs` is abandoned (its socket destroyed), as a client
 * with a timeout does.
 */
import * as http from 'node:http';
import { performance } from 'node:perf_hooks';
import { onParentMessage, toParent } from '../lib/worker';

interface RunMessage {
  type: 'run';
  url: string;
  /** Requests per second. */
  rate: number;
  /** Seconds. */
  duration: number;
  /** A 2xx slower than this (ms) is not good: goodput counts 2xx answered within it. */
  goodWithinMs: number;
  /** Abandon a request after this (ms). */
  timeoutMs: number;
}

/** Most sockets the client opens; past it requests wait in the agent (and that wait counts). */
const MAX_SOCKETS = 4000;

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
}

async function run(m: RunMessage): Promise<Record<string, unknown>> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS });
  const okLatencies: number[] = [];
  const counts = { sent: 0, ok: 0, good: 0, shed: 0, otherStatus: 0, timeouts: 0, errors: 0 };
  let pending = 0;
  let allSent = false;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((resolve) => (done = resolve));
  const settle = (): void => {
    pending--;
    if (allSent && pending === 0) done();
  };
  const send = (due: number): void => {
    counts.sent++;
    pending++;
    let settled = false;
    const req = http.get(m.url, { agent }, (res) => {
      res.resume();
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        const latency = performance.now() - due;
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          counts.ok++;
          okLatencies.push(latency);
          if (latency <= m.goodWithinMs) counts.good++;
        } else if (status === 503 || status === 429) counts.shed++;
        else counts.otherStatus++;
        settle();
      });
    });
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      counts.timeouts++;
      req.destroy();
      settle();
    }, m.timeoutMs);
    req.on('error', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      counts.errors++;
      settle();
    });
  };
  const start = performance.now();
  const total = Math.round(m.rate * m.duration);
  const interval = 1000 / m.rate;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      // Every request due by now leaves now, stamped with the time it was due.
      while (counts.sent < total && start + counts.sent * interval <= now) send(start + counts.sent * interval);
      if (counts.sent >= total) return resolve();
      setTimeout(tick, 1);
    };
    tick();
  });
  allSent = true;
  if (pending > 0) await finished;
  agent.destroy();
  okLatencies.sort((a, b) => a - b);
  return { ...counts, seconds: m.duration, goodput: counts.good / m.duration, p50: percentile(okLatencies, 50), p99: percentile(okLatencies, 99) };
}

onParentMessage(async (msg) => {
  if (msg.type !== 'run') return;
  await toParent({ type: 'result', ...(await run(msg as unknown as RunMessage)) });
});
void toParent({ type: 'ready' });
