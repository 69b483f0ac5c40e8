/**
 * HTTP(S) load generator in its own process: on `run`, an unmeasured warm-up, then the measured
 * autocannon run; replies `result` with requests per second and error counts.
 */
import autocannon from 'autocannon';
import { onParentMessage, toParent } from '../lib/worker';

interface RunMessage {
  type: 'run';
  url: string;
  connections: number;
  duration: number;
  warmup: number;
  headers?: Record<string, string>;
}

onParentMessage(async (msg) => {
  if (msg.type !== 'run') return;
  const m = msg as unknown as RunMessage;
  const base = { url: m.url, connections: m.connections, pipelining: 1, headers: m.headers, timeout: 10 };
  if (m.warmup > 0) await autocannon({ ...base, duration: m.warmup });
  const r = await autocannon({ ...base, duration: m.duration });
  const ok = r['2xx'];
  await toParent({
    type: 'result',
    rps: ok / (r.duration || m.duration),
    total: r.requests.total,
    ok,
    errors: r.errors,
    timeouts: r.timeouts,
    non2xx: r.non2xx,
    latencyP50: r.latency.p50,
    latencyP99: r.latency.p99,
  });
});
void toParent({ type: 'ready' });
