import 'reflect-metadata';
import { join } from 'node:path';
import { createApp, type ServerClass } from '../../src';
import { withDevCertificate } from './dev-certificate';
import { HttpApiServer } from './http-api-server';
import { HttpsApiServer } from './https-api-server';

/** Every server of the sample, in startup order. */
export const SAMPLE_SERVERS: ServerClass[] = [HttpApiServer, HttpsApiServer];

const configFile = process.env.UNIPOOL_CONFIG ?? join(__dirname, '../../../samples/multi-protocol/config.json');

async function main(): Promise<void> {
  let app;
  try {
    // No certificate configured: HTTPS gets a self-signed localhost one, made once and cached.
    const { env, devCertificate } = await withDevCertificate(configFile, process.env);
    if (devCertificate) console.log(`https  self-signed localhost certificate ${devCertificate.cert}${devCertificate.created ? ' (made now)' : ''}`);
    app = createApp({ servers: SAMPLE_SERVERS, config: configFile, env });
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
