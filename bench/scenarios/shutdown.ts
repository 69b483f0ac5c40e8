import { withChildren, type Message } from '../lib/child';
import { alternate, row, type BenchOptions, type Row } from '../lib/scenario';
import { DRAIN_KEEP_ALIVE_GRACE_MS } from '../../src';

/**
 * How long the idle connections sit idle before the stop: past unipool's drain grace for
 * recently active keep-alive sockets (`DRAIN_KEEP_ALIVE_GRACE_MS`), so both sides close idle
 * sockets. Stopped right after their answers, unipool would keep them open 500 ms by design
 * (the next request of a busy client may be on the wire) while node's `server.close()` under
 * terminus destroys them at once: not the same work.
 */
const IDLE_BEFORE_STOP_MS = DRAIN_KEEP_ALIVE_GRACE_MS + 200;

/** What one shutdown run reports. */
export interface ShutdownRun {
  ms: number;
  /** CPU time (user + system) of the server process over the same span: what the stop costs, less moved by other load than wall time. */
  cpuMs: number;
  failed: number;
  stillOpen: number;
}

interface Report extends Message {
  ok: number;
  failed: number;
  stillOpen: number;
}

/**
 * One shutdown run: a fresh server process (`impl`) and a fresh client process; the client
 * loads the server (`idle` connections or `inflight` slow requests), the server stops and
 * times its own stop from the call to the promise resolving.
 */
export function shutdownRun(impl: 'terminus' | 'unipool', load: { kind: 'idle'; count: number } | { kind: 'inflight'; count: number; ms: number }): Promise<ShutdownRun> {
  return withChildren(async (start) => {
    const server = start('servers/http-target', { impl, keepAliveTimeout: 60_000, stopAtInflight: load.kind === 'inflight' ? load.count : undefined }, [], 'server');
    // Pinned apart like every other scenario: unpinned, the client woke on the server's CPU as
    // each socket closed and preempted the stop it measures.
    const client = start('clients/shutdown-client', {}, [], 'load');
    const { port } = await server.next<Message & { port: number }>('ready');
    await client.next('ready');
    let stopped: Message;
    if (load.kind === 'idle') {
      const ready = await client.request<Message & { open: number }>({ type: 'open-idle', port, count: load.count }, 'idle-ready');
      if (ready.open !== load.count) throw new Error(`only ${ready.open} of ${load.count} idle connections opened`);
      await new Promise((resolve) => setTimeout(resolve, IDLE_BEFORE_STOP_MS));
      stopped = await server.request({ type: 'stop' }, 'stopped', 15_000);
    } else {
      // The server starts its stop itself the moment the last request is in its handler.
      client.send({ type: 'inflight', port, count: load.count, ms: load.ms });
      stopped = await server.next('stopped', 15_000);
    }
    const report = await client.request<Report>({ type: 'report', waitMs: 5000 }, 'report', 15_000);
    return { ms: stopped.ms as number, cpuMs: stopped.cpuMs as number, failed: report.failed, stillOpen: report.stillOpen };
  });
}

/** A/B shutdown runs: terminus (A) against unipool (B). */
export async function compareShutdown(options: BenchOptions, load: Parameters<typeof shutdownRun>[1]): Promise<{ a: ShutdownRun[]; b: ShutdownRun[]; ratios: number[] }> {
  const a: ShutdownRun[] = [];
  const b: ShutdownRun[] = [];
  const { ratios } = await alternate(
    options.pairs,
    async () => {
      const r = await shutdownRun('terminus', load);
      a.push(r);
      return r.ms;
    },
    async () => {
      const r = await shutdownRun('unipool', load);
      b.push(r);
      return r.ms;
    },
    options.log,
  );
  return { a, b, ratios };
}

/** Rows shared by both shutdown scenarios. */
export function shutdownRows(name: string, result: Awaited<ReturnType<typeof compareShutdown>>, targetMs: number, ratioTarget?: number): Row[] {
  const ms = (runs: ShutdownRun[]): number[] => runs.map((r) => r.ms);
  const failed = (runs: ShutdownRun[]): number[] => runs.map((r) => r.failed + r.stillOpen);
  return [
    row(name, 'unipool stop() to resolved', 'ms', ms(result.b), { op: '<=', value: targetMs }, { terminusMs: ms(result.a) }),
    row(name, 'unipool failed requests per run', 'count', failed(result.b), { op: '<=', value: 0 }),
    row(name, 'time ratio unipool/terminus', 'x', result.ratios, ratioTarget === undefined ? undefined : { op: '<=', value: ratioTarget }),
    row(name, 'terminus failed requests per run', 'count', failed(result.a), undefined),
    row(name, 'server CPU during stop, ratio unipool/terminus', 'x', result.b.map((r, i) => r.cpuMs / result.a[i].cpuMs), undefined, { unipoolCpuMs: result.b.map((r) => r.cpuMs), terminusCpuMs: result.a.map((r) => r.cpuMs) }),
  ];
}
