import 'reflect-metadata';
import { join } from 'node:path';
import { createApp, type ServerClass } from '../../src';
import { HttpApiServer } from './http-api-server';
import { WsEchoServer } from './ws-echo-server';

/** Every server of the sample, in startup order. */
export const SAMPLE_SERVERS: ServerClass[] = [HttpApiServer, WsEchoServer];

const configFile = process.env.UNIPOOL_CONFIG ?? join(__dirname, '../../../samples/multi-protocol/config.json');

async function main(): Promise<void> {
  const app = createApp({ servers: SAMPLE_SERVERS, config: configFile });
  try {
    await app.start();
  } catch (err) {
    console.error(`unipool sample failed to start:\n${(err as Error).message}`);
    process.exitCode = 1;
    return;
  }
  for (const server of app.servers) {
    const addr = server.address();
    console.log(`${server.pool.protocol.padEnd(6)} ${server.name} listening on ${addr?.address}:${addr?.port}`);
  }
}

void main();
