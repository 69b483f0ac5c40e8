/**
 * HTTP/2 load generator in its own process: on `run`, `h2load` (nghttp2) for the given seconds
 * with `connections` sessions of `streams` concurrent streams each (warm-up with `--warm-up-time`);
 * replies `result` with 2xx responses per second and error counts, as the autocannon client does.
 */
import { execFile } from 'node:child_process';
import { onParentMessage, toParent } from '../lib/worker';

interface RunMessage {
  type: 'run';
  url: string;
  connections: number;
  streams?: number;
  duration: number;
  warmup: number;
}

function h2load(args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('h2load', args, { timeout: timeoutMs, maxBuffer: 1 << 20 }, (err, stdout) => (err ? reject(err) : resolve(stdout)));
  });
}

function count(out: string, re: RegExp): number {
  const m = re.exec(out);
  if (!m) throw new Error(`h2load output without ${re}: ${out.slice(-500)}`);
  return Number(m[1]);
}

onParentMessage(async (msg) => {
  if (msg.type !== 'run') return;
  const m = msg as unknown as RunMessage;
  const args = ['-c', String(m.connections), '-m', String(m.streams ?? 1), '-t', '1', '-D', String(m.duration)];
  if (m.warmup > 0) args.push(`--warm-up-time=${m.warmup}`);
  const out = await h2load([...args, m.url], (m.duration + m.warmup) * 1000 + 30_000);
  const seconds = count(out, /finished in ([\d.]+)s/);
  const ok = count(out, /status codes: (\d+) 2xx/);
  const failed = count(out, /(\d+) failed/);
  const errored = count(out, /(\d+) errored/);
  const timeouts = count(out, /(\d+) timeout/);
  await toParent({ type: 'result', rps: ok / (seconds || m.duration), total: ok + failed, ok, errors: errored, timeouts, non2xx: failed - errored });
});
void toParent({ type: 'ready' });
