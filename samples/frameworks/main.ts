import 'reflect-metadata';
import { createFrameworksApp } from './app';

async function main(): Promise<void> {
  const app = createFrameworksApp();
  try {
    await app.start();
  } catch (err) {
    console.error(`frameworks sample failed to start:\n${(err as Error).message}`);
    process.exitCode = 1;
    return;
  }
  for (const server of app.servers) {
    const addr = server.address();
    console.log(`${server.name.padEnd(14)} http://${addr?.address}:${addr?.port}/  (/slow?ms=N /bytes?n=N /fail)`);
  }
  const admin = app.adminAddress();
  if (admin) console.log(`${'admin'.padEnd(14)} http://${admin.address}:${admin.port}/status  (/metrics /healthz /readyz)`);
  console.log(`pid ${process.pid}: SIGTERM/SIGINT drain and stop`);
}

void main();
