/**
 * The unipool side of bench/servers/grpc-target.ts: the echo in a `GrpcServer` run by
 * `createApp`. In its own module so that only this side loads unipool (see unipool-free.ts).
 */
import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import type * as grpc from '@grpc/grpc-js';
import { createApp, GrpcConnectionPool, GrpcPoolConfig, GrpcServer, PoolConfig, UsePool } from '../../src';
import { echo, service } from './grpc-target-echo';
import { nullLogger } from './null-logger';

@UsePool(GrpcConnectionPool)
class BenchGrpcServer extends GrpcServer {
  constructor(@PoolConfig(GrpcPoolConfig, 'grpc') config: GrpcPoolConfig) {
    super(config);
  }
  protected registerServices(server: grpc.Server): void {
    server.addService(service, { Echo: echo, EchoStream: () => undefined });
  }
}

export async function startUnipoolGrpc(): Promise<number> {
  const app = createApp({ servers: [BenchGrpcServer], config: { grpc: { host: '127.0.0.1', port: 0 } }, logger: nullLogger, env: {}, handleSignals: false });
  await app.start();
  return (app.servers[0].address() as AddressInfo).port;
}
