/**
 * The unipool side of bench/servers/ws-target.ts: an echo `WebSocketServer` run by `createApp`.
 * In its own module so that only this side loads unipool (see unipool-free.ts).
 */
import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import type WebSocket from 'ws';
import type { RawData } from 'ws';
import { createApp, PoolConfig, UsePool, WebSocketConnectionPool, WebSocketPoolConfig, WebSocketServer } from '../../src';
import { nullLogger } from './null-logger';
import type { WsTarget } from './ws-target';

/** Counts echoed messages into the target's counter. */
let served: { count: number } = { count: 0 };

@UsePool(WebSocketConnectionPool)
class BenchWsServer extends WebSocketServer {
  constructor(@PoolConfig(WebSocketPoolConfig, 'ws') config: WebSocketPoolConfig) {
    super(config);
  }
  onMessage(socket: WebSocket, data: RawData, isBinary: boolean): void {
    served.count++;
    this.send(socket, data as Buffer, isBinary);
  }
}

export async function startUnipoolWs(pingInterval: number, counter: { count: number }): Promise<WsTarget> {
  served = counter;
  const app = createApp({
    servers: [BenchWsServer],
    config: { ws: { host: '127.0.0.1', port: 0, path: '/', maxConnections: 20_000, pingInterval, pongTimeout: Math.floor(pingInterval / 2) } },
    logger: nullLogger,
    env: {},
    handleSignals: false,
  });
  await app.start();
  const server = app.servers[0] as BenchWsServer;
  return { port: (server.address() as AddressInfo).port, broadcast: (payload) => server.broadcast(payload).sent };
}
