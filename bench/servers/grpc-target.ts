/**
 * The gRPC server under test, in its own process: `demo.Echo/Echo` unary, the same handler on
 * bare `@grpc/grpc-js` (`impl: 'bare'`) or in a `GrpcServer` run by `createApp` (`unipool`).
 * Replies `ready` with the port; answers `cpu` with its CPU time and calls served.
 */
import * as grpc from '@grpc/grpc-js';
import { echo, served, service } from './grpc-target-echo';
import { assertUnipoolNotLoaded } from './unipool-free';
import { fail, onParentMessage, reportCpu, toParent, workerArgs } from '../lib/worker';

async function start(impl: 'bare' | 'unipool'): Promise<number> {
  if (impl === 'unipool') {
    // Loaded for this side only (see unipool-free.ts).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { startUnipoolGrpc } = require('./grpc-target-unipool') as typeof import('./grpc-target-unipool');
    return startUnipoolGrpc();
  }
  const server = new grpc.Server();
  server.addService(service, { Echo: echo, EchoStream: () => undefined });
  return new Promise((resolve, reject) => server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))));
}

const impl = workerArgs<{ impl: 'bare' | 'unipool' }>().impl;
start(impl)
  .then((port) => {
    if (impl !== 'unipool') assertUnipoolNotLoaded(impl);
    onParentMessage(async (msg) => {
      if (msg.type === 'cpu') await reportCpu(served.count);
    });
    return toParent({ type: 'ready', port });
  })
  .catch(fail);
