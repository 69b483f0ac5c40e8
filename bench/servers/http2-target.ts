/**
 * The HTTP/2 server under test, in its own process. `impl`:
 * - `bare`: `http2.createSecureServer` with the bench handler (node's compatibility API);
 * - `unipool`: the same handler in an `Http2Server` run by `createApp`.
 * Replies `ready` with the port; reports CPU time and requests served on `cpu`.
 */
import { readFileSync } from 'node:fs';
import * as http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { served } from './handlers';
import { handler } from './http2-target-handler';
import { assertUnipoolNotLoaded } from './unipool-free';
import { fail, onParentMessage, reportCpu, toParent, workerArgs } from '../lib/worker';

export interface Http2TargetArgs {
  impl: 'bare' | 'unipool';
  tls: { cert: string; key: string };
}

const args = workerArgs<Http2TargetArgs>();

async function start(): Promise<number> {
  if (args.impl === 'unipool') {
    // Loaded for this side only (see unipool-free.ts).
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { startUnipoolHttp2 } = require('./http2-target-unipool') as typeof import('./http2-target-unipool');
    return startUnipoolHttp2(args.tls);
  }
  const server = http2.createSecureServer({ cert: readFileSync(args.tls.cert), key: readFileSync(args.tls.key) }, handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

start().then((port) => {
  if (args.impl !== 'unipool') assertUnipoolNotLoaded(args.impl);
  onParentMessage(async (msg) => {
    if (msg.type === 'cpu') await reportCpu(served.count);
  });
  return toParent({ type: 'ready', port, pid: process.pid });
}).catch(fail);
