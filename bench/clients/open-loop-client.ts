/**
 * Open-loop HTTP load in its own process: requests leave at a fixed arrival rate whatever the
 * server's answers, as independent clients' requests do, each on a keep-alive connection of
 * its own when none is free. autocannon's `overallRate` is not that: each of its connections
 * sends its share of a second's requests back to back and then pauses until the next second,
 * so a slow server slows the arrivals (and a fast one gets bursts at each second). Latency is
 * measured from the moment a request was due, so a client-side delay counts against the server.
 * A request unanswered after `timeoutMs` is abandoned (its socket destroyed), as a client
 * with a timeout does. With `warmup`, the requests due in those first seconds load the server
 * but are not counted.
 *
 * `warm` first opens that many keep-alive connections (concurrent `GET`s of a cheap URL) which
 * the next `run` starts with: clients already connected when the load rises, as behind a load
 * balancer. Without it a run starts with none, and every request due while all sockets are busy
 * opens one: at 4x a CPU-bound server cannot accept them, since Node (libuv >= 1.45) accepts one
 * connection per event-loop turn.
 */
import * as http from 'node:http';
import { performance } from 'node:perf_hooks';
import { onParentMessage, toParent } from '../lib/worker';

interface RunMessage {
  type: 'run';
  url: string;
  /** Requests per second. */
  rate: number;
  /** Seconds measured. */
  duration: number;
  /** Seconds of the same load before the measured ones, not counted (the server and its limiter settle). */
  warmup?: number;
  /**
   * A 2xx slower than this (ms) is not good. Goodput counts 2xx answered within it and before
   * the arrivals end (`duration` after the first): answers to a backlog served after the run
   * would credit a server with more than the run's seconds of work.
   */
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

interface WarmMessage {
  type: 'warm';
  url: string;
  connections: number;
}

/** The agent of the next run (made by `warm`, or by the run itself). */
let nextAgent: http.Agent | undefined;

function newAgent(): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS, maxFreeSockets: MAX_SOCKETS });
}

/** Opens `m.connections` keep-alive connections for the next run (one concurrent `GET` each); resolves with how many stayed open. */
async function warm(m: WarmMessage): Promise<number> {
  nextAgent?.destroy();
  const agent = newAgent();
  nextAgent = agent;
  await Promise.all(
    Array.from(
      { length: m.connections },
      () =>
        new Promise<void>((resolve, reject) => {
          http.get(m.url, { agent }, (res) => res.resume().on('end', resolve)).on('error', reject);
        }),
    ),
  );
  const free = agent.freeSockets as Record<string, unknown[] | undefined>;
  return Object.values(free).reduce((n, list) => n + (list?.length ?? 0), 0);
}

async function run(m: RunMessage): Promise<Record<string, unknown>> {
  const agent = nextAgent ?? newAgent();
  nextAgent = undefined;
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
  const start = performance.now();
  const windowStart = start + (m.warmup ?? 0) * 1000;
  const windowEnd = windowStart + m.duration * 1000;
  let sent = 0;
  const send = (due: number): void => {
    sent++;
    pending++;
    // Requests due in the warm-up load the server like the others but are not counted.
    const measured = due >= windowStart;
    if (measured) counts.sent++;
    let settled = false;
    const req = http.get(m.url, { agent }, (res) => {
      res.resume();
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (!measured) return settle();
        const latency = performance.now() - due;
        const status = res.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          counts.ok++;
          okLatencies.push(latency);
          if (latency <= m.goodWithinMs && due + latency <= windowEnd) counts.good++;
        } else if (status === 503 || status === 429) counts.shed++;
        else counts.otherStatus++;
        settle();
      });
    });
    const timer = setTimeout(() => {
      if (settled) return;
      settled = true;
      if (measured) counts.timeouts++;
      req.destroy();
      settle();
    }, m.timeoutMs);
    req.on('error', () => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (measured) counts.errors++;
      settle();
    });
  };
  const total = Math.round(m.rate * ((m.warmup ?? 0) + m.duration));
  const interval = 1000 / m.rate;
  await new Promise<void>((resolve) => {
    const tick = (): void => {
      const now = performance.now();
      // Every request due by now leaves now, stamped with the time it was due.
      while (sent < total && start + sent * interval <= now) send(start + sent * interval);
      if (sent >= total) return resolve();
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
  if (msg.type === 'warm') await toParent({ type: 'warmed', connections: await warm(msg as unknown as WarmMessage) });
  else if (msg.type === 'run') await toParent({ type: 'result', ...(await run(msg as unknown as RunMessage)) });
});
void toParent({ type: 'ready' });
