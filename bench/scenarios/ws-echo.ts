import { compareThroughput, SIDE_B_IMPL } from '../lib/ab';
import { withChildren, type Child, type Message } from '../lib/child';
import { runCli } from '../lib/cli';
import { row, type Scenario } from '../lib/scenario';

/** Clients, each with one 64-byte message in flight. */
const CLIENTS = 100;

/**
 * WebSocket echo with 100 clients: messages/s of the same echo on bare `ws` (A) and in a
 * `WebSocketServer` (B, counted `send`), both servers alive, clients in a third process.
 */
export const wsEcho: Scenario = {
  name: 'ws-echo',
  title: `WebSocket echo, ${CLIENTS} clients`,
  run: (options) =>
    withChildren(async (start) => {
      const clients = start('clients/ws-client', {}, [], 'load');
      const a = start('servers/ws-target', { impl: 'bare', pingInterval: 30_000 }, [], 'server');
      const b = start('servers/ws-target', { impl: SIDE_B_IMPL, pingInterval: 30_000 }, [], 'server');
      await clients.next('ready');
      const group = new Map<Child, string>([
        [a, 'a'],
        [b, 'b'],
      ]);
      for (const side of [a, b]) {
        const { port } = await side.next<Message & { port: number }>('ready');
        const opened = await clients.request<Message & { open: number }>({ type: 'open', group: group.get(side), url: `ws://127.0.0.1:${port}/`, count: CLIENTS }, 'opened');
        if (opened.open !== CLIENTS) throw new Error(`only ${opened.open} of ${CLIENTS} clients connected`);
      }
      const result = await compareThroughput(options, { a, b }, async (side, seconds) => {
        const r = await clients.request<Message & { rps: number }>({ type: 'echo', group: group.get(side), seconds }, 'result', seconds * 1000 + 30_000);
        return r.rps;
      });
      return [
        row('ws-echo', 'messages/s ratio unipool/bare', 'x', result.ratios, { op: '>=', value: 0.97 }, { bareMessagesPerSecond: result.a, unipoolMessagesPerSecond: result.b }),
        row('ws-echo', 'server CPU per message unipool/bare', 'x', result.cpuRatios, undefined, { bareCpuUsPerMessage: result.cpuA, unipoolCpuUsPerMessage: result.cpuB }),
      ];
    }),
};

if (require.main === module) void runCli([wsEcho]);
