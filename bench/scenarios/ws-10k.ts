import { withChildren, type Message } from '../lib/child';
import { summarize } from '../lib/stats';

/** Clients of the 10,000-connection scenarios. */
export const WS_CLIENTS = 10_000;

interface Mem extends Message {
  rss: number;
  heapUsed: number;
  external: number;
}

/** What one run with 10,000 clients measured on one side. */
export interface Ws10kRun {
  /** Server RSS growth per connection (bytes), heartbeat rounds included. */
  rssPerConnection?: number;
  heapPerConnection?: number;
  /** Median time of the broadcast call in the server (ms). */
  broadcastMs?: number;
  /** Median time from the broadcast call to the last client having the message (ms). */
  deliveredMs?: number;
}

/**
 * One run: a fresh server process (`impl`) and a fresh client process holding 10,000 clients
 * (their sockets in the client process, so the server has only its own 10,000 descriptors).
 * `memory`: heartbeat every second, memory after forced GC before the clients and after two
 * heartbeat rounds. `broadcasts`: that many broadcasts of `bytes`, one after the other, each
 * waited for until every client has it.
 */
export function ws10kRun(impl: 'bare' | 'unipool', what: { memory: true } | { broadcasts: number; bytes: number }): Promise<Ws10kRun> {
  const memory = 'memory' in what;
  const pingInterval = memory ? 1000 : 30_000;
  return withChildren(async (start) => {
    const server = start('servers/ws-target', { impl, pingInterval }, ['--expose-gc']);
    const clients = start('clients/ws-client');
    const { port } = await server.next<Message & { port: number }>('ready');
    await clients.next('ready');
    const before = await server.request<Mem>({ type: 'mem' }, 'mem');
    const opened = await clients.request<Message & { open: number }>({ type: 'open', group: 'g', url: `ws://127.0.0.1:${port}/`, count: WS_CLIENTS }, 'opened', 180_000);
    if (opened.open !== WS_CLIENTS) throw new Error(`only ${opened.open} of ${WS_CLIENTS} clients connected`);
    if (memory) {
      // Two heartbeat rounds, every client answering its pings, before the figure is taken.
      await new Promise((r) => setTimeout(r, pingInterval * 2.5));
      const after = await server.request<Mem>({ type: 'mem' }, 'mem');
      return { rssPerConnection: (after.rss - before.rss) / WS_CLIENTS, heapPerConnection: (after.heapUsed - before.heapUsed) / WS_CLIENTS };
    }
    const serverMs: number[] = [];
    const delivered: number[] = [];
    for (let i = 0; i < what.broadcasts; i++) {
      await clients.request({ type: 'expect', group: 'g' }, 'expecting');
      const done = await server.request<Message & { ms: number; sent: number; sentAt: number }>({ type: 'broadcast', bytes: what.bytes }, 'broadcast-done');
      if (done.sent !== WS_CLIENTS) throw new Error(`broadcast reached ${done.sent} of ${WS_CLIENTS} clients`);
      const received = await clients.next<Message & { at: number }>('received', 30_000);
      serverMs.push(done.ms);
      delivered.push(received.at - done.sentAt);
    }
    return { broadcastMs: summarize(serverMs).median, deliveredMs: summarize(delivered).median };
  });
}
