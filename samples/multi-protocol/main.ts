import 'reflect-metadata';
import { createSampleApp } from './app';

export { SAMPLE_SERVERS } from './app';

async function main(): Promise<void> {
  const app = createSampleApp();
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
  const admin = app.adminAddress();
  if (admin) console.log(`${'admin'.padEnd(6)} AdminServer listening on http://${admin.address}:${admin.port} (/metrics /healthz /readyz /status)`);
  console.log(`pid ${process.pid}: SIGHUP reloads ${process.env.UNIPOOL_CONFIG ?? 'samples/multi-protocol/config.json'}, SIGTERM/SIGINT stop gracefully`);
}

void main();
