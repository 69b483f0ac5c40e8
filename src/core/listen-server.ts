import type { Server } from 'node:net';
import { ListenError } from '../errors';

/** Binds `server` to `host:port`; rejects with a `ListenError` naming `owner` if the address cannot be bound. */
export function listenServer(server: Server, owner: string, host: string, port: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => {
      server.off('listening', onListening);
      reject(new ListenError(owner, `${host}:${port}`, err));
    };
    const onListening = (): void => {
      server.off('error', onError);
      resolve();
    };
    server.once('error', onError);
    server.once('listening', onListening);
    server.listen(port, host);
  });
}
