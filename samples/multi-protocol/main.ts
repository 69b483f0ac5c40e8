import 'reflect-metadata';
import type { Application } from '../../src';
import { createSampleApp, sampleConfigFile } from './app';
import { withDevCertificate } from './dev-certificate';

export { SAMPLE_SERVERS } from './app';

async function main(): Promise<void> {
  const configFile = sampleConfigFile();
  let app: Application;
  try {
    // No certificate configured: HTTPS and HTTP/2 get a self-signed localhost one, made once and cached.
    // The paths travel as env overrides, so a SIGHUP reload of the file keeps them.
    const { env, devCertificate, sections } = await withDevCertificate(configFile, process.env);
    for (const section of sections) console.log(`${section.padEnd(6)} self-signed localhost certificate ${devCertificate?.cert}${devCertificate?.created ? ' (made now)' : ''}`);
    app = createSampleApp(configFile, { env });
    await app.start();
  } catch (err) {
    console.error(`unipool sample failed to start:\n${(err as Error).message}`);
    process.exitCode = 1;
    return;
  }
  const worker = app.clusterRole === 'worker' ? ` (cluster worker pid ${process.pid})` : '';
  for (const server of app.servers) {
    const addr = server.address();
    console.log(`${server.pool.protocol.padEnd(6)} ${server.name} listening on ${addr?.address}:${addr?.port}${worker}`);
  }
  if (app.clusterRole === 'primary') console.log(`cluster primary pid ${process.pid}: every worker ready; SIGUSR2 restarts them one at a time`);
  const admin = app.adminAddress();
  if (admin) console.log(`${'admin'.padEnd(6)} AdminServer listening on http://${admin.address}:${admin.port} (/metrics /healthz /readyz /status /dashboard)`);
  if (app.clusterRole !== 'worker') console.log(`pid ${process.pid}: SIGHUP reloads ${configFile}, SIGTERM/SIGINT stop gracefully`);
}

void main();
