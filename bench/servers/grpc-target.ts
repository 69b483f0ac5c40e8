/**
 * The gRPC server under test, in its own process: `demo.Echo/Echo` unary, the same handler on
 * bare `@grpc/grpc-js` (`impl: 'bare'`) or in a `GrpcServer` run by `createApp` (`unipool`).
 * Replies `ready` with the port; answers `cpu` with its CPU time and calls served.
 */
import 'reflect-metadata';
import type { AddressInfo } from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { createApp, GrpcConnectionPool, GrpcPoolConfig, GrpcServer, PoolConfig, UsePool } from '../../src';
import { loadDemoPackage } from '../../samples/multi-protocol/grpc-echo-server';
import { nullLogger } from './null-logger';
import { fail, onParentMessage, reportCpu, toParent, workerArgs } from '../lib/worker';

let served = 0;

/** The echo both sides run. */
function echo(call: grpc.ServerUnaryCall<{ message: string }, unknown>, callback: grpc.sendUnaryData<unknown>): void {
  served++;
  callback(null, { message: call.request.message });
}

const service = loadDemoPackage().Echo.service;

@UsePool(GrpcConnectionPool)
class BenchGrpcServer extends GrpcServer {
  constructor(@PoolConfig(GrpcPoolConfig, 'grpc') config: GrpcPoolConfig) {
    super(config);
  }
  protected registerServices(server: grpc.Server): void {
    server.addService(service, { Echo: echo, EchoStream: () => undefined });
  }
}

async function start(impl: 'bare' | 'unipool'): Promise<number> {
  if (impl === 'unipool') {
    const app = createApp({ servers: [BenchGrpcServer], config: { grpc: { host: '127.0.0.1', port: 0 } }, logger: nullLogger, env: {}, handleSignals: false });
    await app.start();
    return (app.servers[0].address() as AddressInfo).port;
  }
  const server = new grpc.Server();
  server.addService(service, { Echo: echo, EchoStream: () => undefined });
  return new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))));
}

start(workerArgs<{ impl: 'bare' | 'unipool' }>().impl).then((port) => {
  onParentMessage(async (msg) => {
    if (msg.type === 'cpu') await reportCpu(served);
  });
  return toParent({ type: 'ready', port });
}, fail);
