/**
 * The WebSocket server under test, in its own process. `impl`:
 * - `bare`: `ws` on its own port with the heartbeat recipe of the `ws` README (an `isAlive`
 *   flag per client, a ping to every client of `wss.clients` each `pingInterval`, terminate
 *   who did not answer) and echo through `ws.send`; broadcast is a loop over `wss.clients`;
 * - `unipool`: a `WebSocketServer` run by `createApp`, echo through `this.send`, broadcast
 *   through `this.broadcast`, heartbeat by the pool.
 * Messages: `cpu` (CPU time, messages served), `mem` (forced GC, then memory figures),
 * `broadcast` {bytes} (times the broadcast call, replies `broadcast-done`).
 */
import type { AddressInfo } from 'node:net';
import { performance } from 'node:perf_hooks';
import WebSocket, { WebSocketServer as WsServer, type RawData } from 'ws';
import { assertUnipoolNotLoaded } from './unipool-free';
import { fail, onParentMessage, reportCpu, toParent, workerArgs } from '../lib/worker';

interface Args {
  impl: 'bare' | 'unipool';
  pingInterval: number;
}

const args = workerArgs<Args>();
/** Messages echoed (both sides count here). */
const served = { count: 0 };

export interface WsTarget {
  port: number;
  broadcast(payload: Buffer): number;
}

type AliveSocket = WebSocket & { isAlive: boolean };

function heartbeat(this: WebSocket): void {
  (this as AliveSocket).isAlive = true;
}

async function start(): Promise<WsTarget> {
  if (args.impl === 'unipool') {
    // Loaded for this side only (see unipool-free.ts).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { startUnipoolWs } = require('./ws-target-unipool') as typeof import('./ws-target-unipool');
    return startUnipoolWs(args.pingInterval, served);
  }
  const wss = new WsServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  wss.on('connection', (ws: AliveSocket) => {
    ws.isAlive = true;
    ws.on('pong', heartbeat);
    ws.on('message', (data: RawData, isBinary: boolean) => {
      served.count++;
      ws.send(data, { binary: isBinary });
    });
  });
  setInterval(() => {
    for (const ws of wss.clients as Set<AliveSocket>) {
      if (!ws.isAlive) {
        ws.terminate();
        continue;
      }
      ws.isAlive = false;
      ws.ping();
    }
  }, args.pingInterval).unref();
  await new Promise<void>((resolve) => wss.once('listening', resolve));
  return {
    port: (wss.address() as AddressInfo).port,
    broadcast: (payload) => {
      let sent = 0;
      for (const ws of wss.clients) {
        if (ws.readyState === WebSocket.OPEN) {
          ws.send(payload, { binary: true });
          sent++;
        }
      }
      return sent;
    },
  };
}

const gc = (globalThis as { gc?: () => void }).gc;

start().then((target) => {
  if (args.impl !== 'unipool') assertUnipoolNotLoaded(args.impl);
  onParentMessage(async (msg) => {
    if (msg.type === 'cpu') await reportCpu(served.count);
    else if (msg.type === 'mem') {
      gc?.();
      gc?.();
      const m = process.memoryUsage();
      await toParent({ type: 'mem', rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers });
    } else if (msg.type === 'broadcast') {
      const payload = Buffer.alloc(msg.bytes as number, 0x61);
      const sentAt = performance.timeOrigin + performance.now();
      const t0 = performance.now();
      const sent = target.broadcast(payload);
      const ms = performance.now() - t0;
      await toParent({ type: 'broadcast-done', ms, sent, sentAt });
    }
  });
  return toParent({ type: 'ready', port: target.port });
}).catch(fail);
